"""Benchmark: `clip_nb.metrics.retrieval_metrics` against the naive full-matrix implementation.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_metrics.py [--images 5000] [--captions 5] [--dim 256] [--threads 1]

At the protocol's realistic size (5,000 images × 25,000 captions × 256-d, float32) it measures wall time
and peak memory of
- `retrieval_metrics`: queries scored a block at a time, ranks counted (no sort), and
- the naive implementation: the whole score matrix, every row argsorted, both ways.

Each implementation runs in its own fresh Python process, after the features are made and a warm-up: torch's
CPU allocations are invisible to `tracemalloc`, so peak memory is the process's peak resident set size during
the call minus its resident set size just before (Linux: the peak is reset through /proc/self/clear_refs;
elsewhere `ru_maxrss` is used and includes the set-up). The features are synthetic but behave like a trained
model's (each caption is its image's vector plus noise), so the metrics are mid-range, and the two
implementations must agree on them. Prints both side by side with the ratios, then one markdown table row.
"""
import argparse, json, os, resource, statistics, subprocess, sys, time
from pathlib import Path


def _rss_mb(field):
    "VmRSS (current) or VmHWM (peak) of this process, in MB."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'): return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak():
    "Reset the peak RSS to the current RSS (Linux ≥ 4.0); False where that is impossible."
    try: Path('/proc/self/clear_refs').write_text('5'); return True
    except OSError: return False


def naive_ranks(img, txt, t2i):
    "The full score matrix, each row argsorted, the position of the first positive (both ways)."
    import torch
    s = img @ txt.T                                    # (n_images, n_texts)
    order = torch.argsort(s, dim=1, descending=True)   # every caption sorted, for every image
    i2t = (t2i[order] == torch.arange(len(img))[:, None]).byte().argmax(1) + 1 # first caption of the image
    del order
    order = torch.argsort(s.T, dim=1, descending=True) # every image sorted, for every caption
    return i2t, (order == t2i[:, None]).byte().argmax(1) + 1


def summarise(i2t, t2i, ks=(1, 5, 10)):
    "The metric names of DESIGN.md section 7 from two rank vectors (1-based)."
    import numpy as np
    m = {}
    for name, r in (('image_to_text', i2t.numpy()), ('text_to_image', t2i.numpy())):
        for k in ks: m[f'{name}_R@{k}'] = 100.0 * float(np.mean(r <= k))
        m[f'{name}_median_rank'] = float(np.floor(np.median(r)))
        m[f'{name}_mean_rank'] = float(np.mean(r))
    m['rsum'] = sum(v for k, v in m.items() if '_R@' in k)
    return m


def worker(kind, n_images, per_image, dim, threads, repeats):
    "Run one implementation in this process and print a JSON line with its time, peak memory and metrics."
    import torch
    from clip_nb.metrics import retrieval_metrics
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(n_images, dim, generator=g), dim=1)
    t2i = torch.arange(n_images).repeat_interleave(per_image)
    txt = torch.nn.functional.normalize(img[t2i] + 0.3 * torch.randn(len(t2i), dim, generator=g), dim=1)
    run = (lambda: retrieval_metrics(img, txt, t2i)) if kind == 'chunked' else (lambda: summarise(*naive_ranks(img, txt, t2i)))
    if kind == 'chunked': retrieval_metrics(img[:50], txt[:250], t2i[:250]) # warm-up: thread pools, first-call costs
    else: summarise(*naive_ranks(img[:50], txt[:250], t2i[:250]))
    times, peaks = [], []
    for _ in range(repeats):
        before = _rss_mb('VmRSS'); exact = _reset_peak()
        start = time.perf_counter(); metrics = dict(run()); times.append(time.perf_counter() - start)
        peaks.append((_rss_mb('VmHWM') if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024) - before)
    print(json.dumps({'time_s': statistics.median(times), 'peak_mb': max(peaks), 'exact_peak': exact, 'metrics': metrics}))


def measure(kind, a):
    "Run `worker` for `kind` in a fresh process and return its JSON result."
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    cmd = [sys.executable, __file__, '--worker', kind, '--images', str(a.images), '--captions', str(a.captions),
           '--dim', str(a.dim), '--threads', str(a.threads), '--repeats', str(a.repeats if kind == 'chunked' else 1)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode: sys.exit(f'{kind} worker failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--images', type=int, default=5000)
    ap.add_argument('--captions', type=int, default=5, help='captions per image')
    ap.add_argument('--dim', type=int, default=256)
    ap.add_argument('--threads', type=int, default=1, help='torch threads in each worker')
    ap.add_argument('--repeats', type=int, default=3, help='runs of retrieval_metrics (median time); the naive one runs once')
    ap.add_argument('--worker', choices=['chunked', 'naive'], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker: return worker(a.worker, a.images, a.captions, a.dim, a.threads, a.repeats)
    size = f'{a.images:,} images × {a.images * a.captions:,} captions × {a.dim}-d'
    print(f'retrieval_metrics vs naive full matrix: {size}, float32, {a.threads} thread(s), each in its own process')
    res = {kind: measure(kind, a) for kind in ('chunked', 'naive')}
    c, n = res['chunked'], res['naive']
    diff = max(abs(c['metrics'][k] - n['metrics'][k]) for k in c['metrics'])
    print(f"{'':24}{'time (s)':>10}{'peak memory (MB)':>18}")
    print(f"{'retrieval_metrics':24}{c['time_s']:>10.2f}{c['peak_mb']:>18.0f}")
    print(f"{'naive full matrix':24}{n['time_s']:>10.2f}{n['peak_mb']:>18.0f}")
    print(f"{'naive / chunked':24}{n['time_s'] / c['time_s']:>9.1f}×{n['peak_mb'] / c['peak_mb']:>17.1f}×")
    if not c['exact_peak']: print('(peak memory from ru_maxrss: includes the set-up, an upper bound)')
    print(f"metrics agree: largest difference {diff:.3g} (rsum {c['metrics']['rsum']:.2f} vs {n['metrics']['rsum']:.2f}; "
          f"R@1 i2t {c['metrics']['image_to_text_R@1']:.1f}, t2i {c['metrics']['text_to_image_R@1']:.1f})")
    print('\nmarkdown rows (benchmark | clip_nb | baseline | ratio):')
    print(f"| retrieval_metrics time, {size} | {c['time_s']:.2f} s | {n['time_s']:.1f} s (full matrix + argsort) | {n['time_s'] / c['time_s']:.0f}x faster |")
    print(f"| retrieval_metrics peak memory, {size} | {c['peak_mb']:.0f} MB | {n['peak_mb']:.0f} MB (full matrix) | {n['peak_mb'] / c['peak_mb']:.0f}x less |")
    if diff > 0.05: sys.exit(f'the two implementations disagree by {diff:.3g}')


if __name__ == '__main__':
    main()
