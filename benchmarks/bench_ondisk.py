"""Benchmark: an IVF-PQ index bigger than memory — `kind='ondisk'` beside the in-memory IVF-PQ, on the same vectors.

    python benchmarks/bench_ondisk.py [--n 5000000] [--dim 256] [--queries 1000] [--threads 2] [--work DIR] [--target 0.95]

The vectors are `bench_index.py`'s synthetic cross-modal set (`clip_nb.vectors.synth_embeddings`, documented in
nbs/06_vectors.ipynb): image vectors with a modality gap, caption queries naming part of an item, image queries of
the same items. 5,000,000 × 256 float32 is 4.8 GiB: the base is written straight into a memory-mapped `.npy`, as an
embedding export (`embeddings.json` + shard + metadata) that both indexes re-rank from, so neither copies it.

Each step runs in its own process, so that its peak memory is its own:

1. make the data: the base, 1,000 caption and 1,000 image queries, their exact top-10 (streamed over the shard);
2. build + save, once per kind: `build_index(Embeddings.open(export), kind)` (the same sample, seed and codes for
   both: training on ≤ 262,144 rows; 'ivfpq' adds into lists in memory, 'ondisk' a million rows a part, each part
   written out, then merged into one file) and `save` (SHA-256 of every file);
3. load + tune + search, once per kind: `VectorIndex.load` (the on-disk lists memory-mapped), `tune` to the cheapest
   nprobe whose caption→image recall@10 (re-scoring k × 16 candidates with the exact vectors) reaches `--target`,
   recall at that setting, and the median latency of 200 queries one at a time.

Memory is reported two ways, both peaks over the whole step: resident (`ru_maxrss`: what the process had in RAM,
including pages of mapped files it touched — page cache the kernel may reclaim at will) and private (`RssAnon`,
sampled every 20 ms: memory that only this process holds and the kernel cannot drop). Times are wall-clock on a
shared machine; the two kinds run back to back, so their ratio means more than either time.
"""
import argparse, json, os, resource, subprocess, sys, threading, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _status_kb(field:str='RssAnon') -> int:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'): return int(line.split()[1])
    return 0


class Peak:
    "Peak private memory of this process, sampled in a thread."
    def __enter__(self):
        self.start, self.peak, self.stop = _status_kb('VmRSS'), _status_kb(), threading.Event() # at start: the imports (numpy, pandas, FAISS; clip_nb.vectors needs no torch)
        def watch():
            while not self.stop.wait(0.02): self.peak = max(self.peak, _status_kb())
        self.t = threading.Thread(target=watch, daemon=True); self.t.start(); return self
    def __exit__(self, *exc):
        self.stop.set(); self.t.join(); self.peak = max(self.peak, _status_kb())
    def report(self) -> dict:
        return dict(rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, start_mb=self.start / 1024, private_mb=self.peak / 1024)


def make_data(a):
    import numpy as np, pandas as pd
    from clip_nb.files import save_json
    from clip_nb.vectors import EMB_FILE, META_FILE, exact_search, synth_embeddings
    exp = Path(a.work)/'export'; exp.mkdir(parents=True, exist_ok=True)
    t = time.time()
    base = np.lib.format.open_memmap(exp/'shard-00000.npy', 'w+', np.float32, (a.n, a.dim))
    s = synth_embeddings(a.n, a.dim, a.queries, seed=a.seed, out=base); base.flush(); del base
    pd.DataFrame({'row': np.arange(a.n)}).to_parquet(exp/META_FILE, index=False)
    save_json(dict(key='synthetic', count=a.n, dim=a.dim, dtype='float32', shards=['shard-00000.npy']), exp/EMB_FILE)
    made = time.time() - t; t = time.time()
    shards = [np.load(exp/'shard-00000.npy', mmap_mode='r')]
    truth = {name: exact_search(shards, q, 10)[1] for name, q in (('cross_modal', s.text), ('same_modality', s.image))}
    np.savez(Path(a.work)/'queries.npz', text=s.text, image=s.image, **truth)
    print(json.dumps(dict(make_s=made, exact_s=time.time() - t)))


def build(a):
    import faiss
    from clip_nb.vectors import Embeddings, build_index
    faiss.omp_set_num_threads(a.threads)
    exp = Path(a.work)/'export'; out = Path(a.work)/a.kind
    with Peak() as p:
        t = time.time(); ix = build_index(Embeddings.open(exp), a.kind, seed=a.seed, work_dir=a.work); build_s = time.time() - t
        ix.info['embeddings'] = os.path.relpath(exp, out) # re-rank from the export: the folder holds no copy of the vectors
        t = time.time(); ix.save(out); save_s = time.time() - t
    files = {n: f['bytes'] for n, f in ix.info['files'].items()}
    print(json.dumps(dict(build_s=build_s, save_s=save_s, params=ix.info['params'], files=files, **p.report())))


def search(a):
    import faiss, numpy as np
    from clip_nb.vectors import Embeddings, VectorIndex, recall_at_k, tune
    faiss.omp_set_num_threads(a.threads)
    q = np.load(Path(a.work)/'queries.npz'); truth = {'cross_modal': q['cross_modal'], 'same_modality': q['same_modality']}
    with Peak() as p:
        t = time.time(); ix = VectorIndex.load(Path(a.work)/a.kind); load_s = time.time() - t
        rec = tune(ix, Embeddings.open(Path(a.work)/'export'), q['text'], q['image'], target=a.target, truth=truth)
        codes = recall_at_k(ix.search(q['text'], 10, rerank=1)[1], truth['cross_modal'])
        ix.search(q['text'][:1], 10); times = []
        for v in q['text'][:200]:
            t = time.perf_counter(); ix.search(v[None], 10); times.append(time.perf_counter() - t)
    print(json.dumps(dict(load_s=load_s, search_params=ix.info['search_params'], cross_modal=rec['cross_modal'], same_modality=rec['same_modality'],
                          codes_only=codes, ms=1e3 * float(np.median(times)), **p.report())))


def step(a, name, **extra):
    "Run one step in a fresh process; its last stdout line is its JSON result."
    argv = [sys.executable, __file__, '--step', name, '--n', str(a.n), '--dim', str(a.dim), '--queries', str(a.queries), '--threads', str(a.threads),
            '--work', a.work, '--target', str(a.target), '--seed', str(a.seed), *[x for k, v in extra.items() for x in (f'--{k}', str(v))]]
    r = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(a.threads)))
    if r.returncode: sys.exit(f'step {name} {extra} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=5_000_000, help='base (image) vectors')
    ap.add_argument('--dim', type=int, default=256)
    ap.add_argument('--queries', type=int, default=1000, help='cross-modal and same-modality queries')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--work', default=None, help='a folder with room for the vectors (n × dim × 4 bytes) and two indexes (default: a new one in the temporary folder)')
    ap.add_argument('--target', type=float, default=0.95, help='caption→image recall@10 to tune for')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--step', choices=['data', 'build', 'search'], help=argparse.SUPPRESS)
    ap.add_argument('--kind', choices=['ivfpq', 'ondisk'], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.step: return {'data': make_data, 'build': build, 'search': search}[a.step](a)

    import shutil, tempfile
    made = a.work is None
    a.work = a.work or tempfile.mkdtemp(prefix='bench_ondisk-')
    try:
        t = time.time(); d = step(a, 'data')
        print(f'{a.n:,} × {a.dim} vectors ({a.n * a.dim * 4 / 2**30:.2f} GiB on disk) and {2 * a.queries:,} queries with their exact top-10: '
              f'{time.time() - t:.0f} s', flush=True)
        res = {}
        for kind in ('ivfpq', 'ondisk'):
            b = step(a, 'build', kind=kind); print(f'  {kind} built: {b}', flush=True)
            s = step(a, 'search', kind=kind); print(f'  {kind} searched: {s}', flush=True)
            res[kind] = (b, s)
    finally:
        if made: shutil.rmtree(a.work, ignore_errors=True)
    p = res['ivfpq'][0]['params']
    print(f"\n| IVF-PQ, {a.n:,} × {a.dim} (nlist {p['nlist']}, {p['pq_m']} bytes a vector), {a.threads} threads | build s (+ save) | build peak resident MB (at start) | "
          f"build peak private MB | index in memory MB | search peak resident MB (at start) | search peak private MB | ms/query (one at a time) | nprobe | "
          f"recall@10 text→image, re-ranked | codes only | image→image |")
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for kind, (b, s) in res.items():
        held = b['files']['index.faiss'] / 2**20
        name = 'in memory (`ivfpq`)' if kind == 'ivfpq' else f"on disk (`ondisk`: lists file {b['files']['lists.ivfdata'] / 2**20:.0f} MB, mapped)"
        print(f"| {name} | {b['build_s']:.0f} (+{b['save_s']:.0f}) | {b['rss_mb']:.0f} ({b['start_mb']:.0f}) | {b['private_mb']:.0f} | {held:.0f} | {s['rss_mb']:.0f} ({s['start_mb']:.0f}) | "
              f"{s['private_mb']:.0f} | {s['ms']:.2f} | {s['search_params']['nprobe']} | {s['cross_modal']:.3f} | {s['codes_only']:.3f} | {s['same_modality']:.3f} |")
    (mb, ms), (db, ds) = res['ivfpq'], res['ondisk']
    print(f'\nsummary row (benchmark | clip_nb | baseline | ratio):')
    print(f"| on-disk IVF-PQ, {a.n:,} × {a.dim}: peak memory to build and to search (resident, of which private), latency at caption→image recall@10 "
          f"{ds['cross_modal']:.3f} | ondisk: build {db['rss_mb']:.0f} MB ({db['private_mb']:.0f}), search {ds['rss_mb']:.0f} MB ({ds['private_mb']:.0f}), "
          f"{ds['ms']:.2f} ms/query | in-memory ivfpq: build {mb['rss_mb']:.0f} MB ({mb['private_mb']:.0f}), search {ms['rss_mb']:.0f} MB ({ms['private_mb']:.0f}), "
          f"{ms['ms']:.2f} ms/query at {ms['cross_modal']:.3f} | private memory {mb['private_mb'] / db['private_mb']:.2f}x less to build, "
          f"{ms['private_mb'] / ds['private_mb']:.2f}x less to search; {ds['ms'] / ms['ms']:.2f}x the latency |")

if __name__ == '__main__':
    main()
