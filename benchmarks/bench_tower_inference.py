"""A frozen image tower's forward in its fastest exact form (`ImageEncoder.inference_model`) against the plain forward.

    .venv/bin/python benchmarks/bench_tower_inference.py [--backbone mobilenet_v2] [--batch 32] [--repeats 5]

The same batches of 224-px images through the offline preset's MobileNetV2 four ways: plain (NCHW),
channels-last memory alone, conv–BN pairs fused alone, and both (what batched encoding uses). Each
repeat times the four one after the other; prints the median times, the ratios to the plain forward,
the largest difference from it, and a markdown row.
"""
import argparse, copy, os, statistics, time
os.environ.setdefault('OMP_NUM_THREADS', '2')

import torch
from torch.fx.experimental.optimization import fuse

from clip_nb.towers import ImageEncoder


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--backbone', default='mobilenet_v2')
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--repeats', type=int, default=5)
    a = ap.parse_args()
    enc = ImageEncoder(a.backbone, pretrained=a.backbone == 'mobilenet_v2').eval()
    x = torch.randn(a.batch, 3, 224, 224); xc = x.contiguous(memory_format=torch.channels_last)
    ways = {'plain': (enc.model, x), 'channels-last': (copy.deepcopy(enc.model).to(memory_format=torch.channels_last), xc),
            'fused': (fuse(enc.model), x), 'both': (enc.inference_model(), xc)}
    times = {k: [] for k in ways}
    with torch.no_grad():
        ref = enc.model(x); diff = max(float((m(i) - ref).abs().max()) for m, i in ways.values())
        for _ in range(a.repeats):
            for k, (m, i) in ways.items(): t = time.perf_counter(); m(i); times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f'{a.backbone}, batch {a.batch} × 224², {torch.get_num_threads()} threads, {a.repeats} repeats; largest difference from plain {diff:.1e}')
    for k, v in med.items(): print(f'{k:14} {1e3 * v:8.1f} ms  {med["plain"] / v:.2f}x')
    print(f'| frozen {a.backbone} forward, batch {a.batch}: channels-last + conv–BN fusion (`inference_model`) vs plain NCHW | {1e3 * med["both"]:.0f} ms '
          f'| {1e3 * med["plain"]:.0f} ms | {med["plain"] / med["both"]:.2f}x faster (channels-last {med["plain"] / med["channels-last"]:.2f}x, fusion {med["plain"] / med["fused"]:.2f}x; outputs within {diff:.0e}) |')

if __name__ == '__main__':
    main()
