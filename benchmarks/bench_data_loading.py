"""Images per second through the image loading pipeline, in the main process and with worker processes.

    .venv/bin/python benchmarks/bench_data_loading.py [--workers 2] [--epochs 2] [--size 224] [--mode pad] [--batch-size 64]

The pipeline is what evaluation, export and feature caching run: `clip_nb.data.image_loader` over each
image once — read the file, EXIF and transparency handling (`load_image`), pad to a square, resize,
tensor, normalise (`image_transform`), collate. Data: the Tux Paint sample when it has been fetched
(`clip_nb.data.tuxpaint_sample()`), else a synthetic set of the same size. One warm-up epoch (worker
start-up, file cache) is run first and timed separately; then `--epochs` epochs are timed.
Prints the rates, their ratio, and a markdown table row for the benchmark summary.
"""
import argparse
import os
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')

import torch

from clip_nb.data import image_loader, image_transform, read_pairs, synth_pairs, tuxpaint_available, tuxpaint_sample


def measure(df, transform, workers: int, epochs: int, batch_size: int) -> tuple[float, float]:
    "Seconds of the warm-up epoch, and images/s over the timed epochs."
    loader = image_loader(df, transform, batch_size=batch_size, num_workers=workers)
    t0 = time.perf_counter()
    for _ in loader: pass
    warmup = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader: n += len(batch['image_ids'])
    return warmup, n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workers', type=int, default=2, help='worker processes to compare with 0 (default 2)')
    ap.add_argument('--epochs', type=int, default=2, help='timed epochs after one warm-up epoch')
    ap.add_argument('--size', type=int, default=224, help='input side in pixels')
    ap.add_argument('--mode', default='pad', choices=['pad', 'crop'])
    ap.add_argument('--batch-size', type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if tuxpaint_available():
        name, df = 'Tux Paint sample', read_pairs(tuxpaint_sample(), verbose=False)
    else:
        print('the Tux Paint sample is not fetched (clip_nb.data.tuxpaint_sample()); using a synthetic set instead')
        name, df = 'synthetic shapes', read_pairs(synth_pairs(785, size=128), verbose=False)
    tf = image_transform('mobilenet_v2', size=a.size, mode=a.mode)
    n_images = df.image_id.nunique()
    print(f'{name}: {n_images} images; {tf.key}; batch {a.batch_size}; {os.cpu_count()} CPUs; '
          f'{a.epochs} timed epochs after 1 warm-up epoch')
    rates = {}
    for w in (0, a.workers):
        warmup, rates[w] = measure(df, tf, w, a.epochs, a.batch_size)
        print(f'  workers={w}: {rates[w]:7.1f} images/s  (warm-up epoch {warmup:.2f} s)')
    ratio = rates[a.workers] / rates[0]
    print(f'ratio ({a.workers} workers / 0 workers): {ratio:.2f}x')
    print(f'| image loading, images/s ({name}, {a.size} px, {a.mode}) | {rates[0]:.0f} (0 workers) '
          f'| {rates[a.workers]:.0f} ({a.workers} workers) | {ratio:.2f}x |')


if __name__ == '__main__':
    main()
