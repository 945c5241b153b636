"""Benchmark: FAISS index kinds of `clip_nb.vectors` on 1,000,000 × 256-d vectors with a modality gap.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_index.py [--n 1000000] [--dim 256] [--threads 2]
                                                                 [--kinds flat ivf hnsw ivfpq] [--target 0.95]

The situation it measures is text queries against image vectors. The vectors come from
`clip_nb.vectors.synth_embeddings` (documented in nbs/06_vectors.ipynb):

- every item has 4 attributes (think shape, colour, size, background) whose values are random unit
  directions; with the default number of values there are about 8 items per combination of values, so
  images form small clusters (several pictures of the same thing);
- base (image) vector = unit( unit(sum of the item's 4 attribute directions) + 0.4 · noise ) + 1.0 · g_image,
  normalised;
- cross-modal (caption) query = the same, but naming only 1–3 of the item's attributes (a caption describes
  part of a picture) and offset by g_text ⟂ g_image: the modality gap. A caption's best inner product with any
  image is ≈ 0.35 (as with CLIP), an image's best match ≈ 0.94;
- same-modality query = a new image of the same item (all attributes, fresh noise, g_image).

For each kind the index is built with `clip_nb.vectors.build_index` (IVF and PQ trained on a sample), tuned with
`clip_nb.vectors.tune` to the cheapest `nprobe` / `efSearch` whose recall@10 on the 1,000 cross-modal queries
reaches `--target` (the same-modality recall at that setting is shown beside it), and then timed one query at
a time (the interactive case; FAISS then runs each query on one thread, for every kind alike). Recall is
measured against exact search (`clip_nb.vectors.exact_search`). Memory is the size of the serialised index, which
is what it occupies in RAM (IVF-PQ's re-ranking vectors are memory-mapped from disk in an index folder, and
only the rows of the candidates are read). IVF-PQ is measured twice: with its compressed codes alone, and
re-scoring its best k × 16 candidates with the exact vectors (what `clip_nb` does by default). Speed-ups are ratios to the flat index's latency measured in the same run (this
machine is shared: absolute times vary, ratios measured side by side vary less).

Prints one markdown table. `--n 200000` runs in about a minute.
"""
import argparse, resource, sys, time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from clip_nb.vectors import IVFPQ_RERANK, build_index, exact_search, recall_at_k, synth_embeddings, tune


def latency_ms(ix, queries, n, **params):
    "Median milliseconds per query, one query at a time (after one warm-up query)."
    ix.search(queries[:1], 10, **params)
    times = []
    for q in queries[:n]:
        t = time.perf_counter(); ix.search(q[None], 10, **params); times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1_000_000, help='base (image) vectors')
    ap.add_argument('--dim', type=int, default=256)
    ap.add_argument('--queries', type=int, default=1000, help='cross-modal and same-modality queries for recall')
    ap.add_argument('--latency-queries', type=int, default=200, help='queries timed one at a time (flat: 20)')
    ap.add_argument('--threads', type=int, default=2, help='FAISS threads for building and batch search')
    ap.add_argument('--kinds', nargs='+', default=['flat', 'ivf', 'hnsw', 'ivfpq'])
    ap.add_argument('--target', type=float, default=0.95, help='cross-modal recall@10 to tune each approximate kind for')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)

    t = time.time(); s = synth_embeddings(a.n, a.dim, a.queries, seed=a.seed)
    print(f'{a.n:,} × {a.dim} base vectors, {a.queries} cross-modal + {a.queries} same-modality queries: {time.time() - t:.1f} s', flush=True)
    t = time.time()
    (dc, ic), (ds, is_) = exact_search(s.base, s.text, 10), exact_search(s.base, s.image, 10)
    truth = {'cross_modal': ic, 'same_modality': is_}
    print(f'exact top-10 of the {2 * a.queries} queries (batch, {a.threads} threads): {time.time() - t:.1f} s; best score: '
          f'caption queries {dc[:, 0].mean():.3f}, image queries {ds[:, 0].mean():.3f} (the modality gap)', flush=True)

    rows, flat_ms = [], None
    for kind in a.kinds:
        t = time.time(); ix = build_index(s.base, kind, seed=a.seed); build_s = time.time() - t
        mem_mb = faiss.serialize_index(ix.index).nbytes / 2**20
        # IVF-PQ twice: its compressed codes alone, then re-scoring k × rerank candidates with the exact vectors
        # (here in memory; in an index folder memory-mapped from disk, so not counted in its memory)
        for name, rerank in ([('ivfpq, codes only', 1), ('ivfpq + re-rank', IVFPQ_RERANK)] if kind == 'ivfpq' else [(kind, None)]):
            if rerank: ix.info['search_params']['rerank'] = rerank
            if kind == 'flat': rec = {'cross_modal': recall_at_k(ix.search(s.text, 10)[1], ic), 'same_modality': recall_at_k(ix.search(s.image, 10)[1], is_)}
            else:
                if kind == 'hnsw': # first as built, untuned: the default a user gets without `tune`
                    untuned = {'cross_modal': recall_at_k(ix.search(s.text, 10)[1], ic), 'same_modality': recall_at_k(ix.search(s.image, 10)[1], is_)}
                    ms0 = latency_ms(ix, s.text, a.latency_queries); ef0 = ix.info['search_params']['ef_search']
                    rows.append((f'hnsw, untuned (ef_search {ef0})', f'ef_search={ef0}', build_s, mem_mb, ms0, untuned['cross_modal'], untuned['same_modality']))
                    print(f"  hnsw untuned: ef_search={ef0}; {ms0:.3f} ms/query, recall@10 cross-modal {untuned['cross_modal']:.3f}, same-modality {untuned['same_modality']:.3f}", flush=True)
                rec = tune(ix, s.base, s.text, s.image, target=a.target, truth=truth)
            ms = latency_ms(ix, s.text, 20 if kind == 'flat' else a.latency_queries)
            flat_ms = ms if kind == 'flat' else flat_ms
            setting = ', '.join(f'{k}={v}' for k, v in {**ix.info['params'], **ix.info['search_params']}.items()) or 'exact'
            rows.append((name, setting, build_s, mem_mb, ms, rec['cross_modal'], rec['same_modality']))
            print(f'  {name}: {setting}; build {build_s:.1f} s, {mem_mb:.0f} MB, {ms:.3f} ms/query, recall@10 cross-modal '
                  f"{rec['cross_modal']:.3f}, same-modality {rec['same_modality']:.3f}", flush=True)
        del ix

    print(f'\npeak memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GB\n')
    print(f'| index ({a.n:,} × {a.dim}, {a.threads} threads) | setting (tuned: cross-modal recall@10 ≥ {a.target}) | build s | memory MB '
          '| ms/query (one at a time) | speed-up vs flat | recall@10 text→image (cross-modal) | recall@10 image→image (same-modality) |')
    print('|---|---|---:|---:|---:|---:|---:|---:|')
    for kind, setting, build_s, mem_mb, ms, rc, rs in rows:
        speed = f'{flat_ms / ms:.1f}×' if flat_ms else 'n/a'
        print(f'| {kind} | {setting} | {build_s:.1f} | {mem_mb:.0f} | {ms:.3f} | {speed} | {rc:.3f} | {rs:.3f} |')
    ok = [r for r in rows if r[0] != 'flat' and r[5] >= a.target and 'untuned' not in r[0]]
    exact_mb = a.n * a.dim * 4 / 2**20 # IVF-PQ's re-rank reads these from disk (memory-mapped), besides its codes in memory
    if flat_ms and ok:  # the summary row for benchmarks/run_all.py: the fastest index that reaches the target
        kind, setting, build_s, mem_mb, ms, rc, rs = min(ok, key=lambda r: r[4])
        print(f'\nsummary row (benchmark | clip_nb | baseline | ratio):')
        print(f'| search latency, {a.n:,} × {a.dim} vectors, caption→image queries | {kind} {ms:.2f} ms/query at recall@10 {rc:.3f} '
              f'| flat (exact) {flat_ms:.1f} ms/query | {flat_ms / ms:.1f}x faster |')
    flat_mb = next((r[3] for r in rows if r[0] == 'flat'), None)
    if flat_mb and ok:  # and the smallest index that reaches it
        kind, setting, build_s, mem_mb, ms, rc, rs = min(ok, key=lambda r: r[3])
        disk = f' + the exact vectors its re-rank reads, {exact_mb:.0f} MB on disk (memory-mapped)' if 're-rank' in kind else ''
        print(f'| index memory, {a.n:,} × {a.dim} vectors, at caption→image recall@10 ≥ {a.target} | {kind} {mem_mb:.0f} MB in memory{disk} '
              f'({ms:.2f} ms/query, recall@10 {rc:.3f}) | flat (exact) {flat_mb:.0f} MB | {flat_mb / mem_mb:.1f}x less memory' + (', not less storage' if disk else '') + ' |')
    if (u := next((r for r in rows if 'untuned' in r[0]), None)) and (h := next((r for r in rows if r[0] == 'hnsw'), None)):
        print(f'| HNSW recall@10, {a.n:,} × {a.dim} vectors, caption→image queries | tuned ({h[1]}): {h[5]:.3f}, {h[4]:.2f} ms/query '
              f'| untuned ({u[1]}, the default without `tune`): {u[5]:.3f}, {u[4]:.2f} ms/query | tuning buys {h[5] - u[5]:+.3f} recall |')


if __name__ == '__main__':
    main()
