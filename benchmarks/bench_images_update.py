"""Keeping an index of a photo folder up to date: an incremental update after adding 1 % new photos against a rebuild.

    .venv/bin/python benchmarks/bench_images_update.py [--images DIR] [--repeats 3]

The folder is a copy of the Tux Paint sample's pictures (785 images in sub-folders, no captions);
the model is the offline preset (frozen MobileNetV2 + MiniLM). Each repeat adds 1 % new pictures
(existing ones mirrored and tinted, so their bytes are new), then times `build_images_index` on the
indexed folder (the update: it embeds the new pictures alone and rebuilds the index from the stored
vectors) and on a new folder (the rebuild: every picture embedded again), one after the other.
Prints both, their ratio (median of the repeats' side-by-side ratios) and a markdown row.
"""
import argparse, os, shutil, statistics, tempfile, time
os.environ.setdefault('OMP_NUM_THREADS', '2')
from pathlib import Path

import torch
from PIL import Image, ImageOps

from clip_nb.data import tuxpaint_sample
from clip_nb.encoders import DualEncoder
from clip_nb.folders import read_images
from clip_nb.index import build_images_index


def add_new(folder:Path, n:int, tag:str) -> None:
    "Add `n` new pictures: existing ones mirrored and tinted (new bytes), in a sub-folder of their own."
    src = read_images(folder, verbose=False).image.tolist()[::max(1, 700 // n)][:n]
    (folder/'new'/tag).mkdir(parents=True)
    for i, p in enumerate(src):
        im = ImageOps.mirror(Image.open(p).convert('RGB')); im.paste((i * 37 % 256, 90, 160), (0, 0, 6, 6))
        im.save(folder/'new'/tag/f'{i:03d}.png')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--images', default=None, help='a folder of images (default: the Tux Paint sample\'s)')
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        folder = Path(shutil.copytree(a.images or Path(tuxpaint_sample())/'Images', tmp/'photos'))
        model = DualEncoder.from_preset('offline')
        n = len(read_images(folder, verbose=False)); new = max(1, round(n / 100))
        build_images_index(model, folder, tmp/'index', progress=False)           # the indexed folder
        updates, rebuilds, ratios = [], [], []
        for r in range(a.repeats):
            add_new(folder, new, f'r{r}')
            t = time.perf_counter(); build_images_index(model, folder, tmp/'index', progress=False); u = time.perf_counter() - t
            t = time.perf_counter(); build_images_index(model, folder, tmp/f'rebuild{r}', progress=False); b = time.perf_counter() - t
            shutil.rmtree(tmp/f'rebuild{r}'); updates.append(u); rebuilds.append(b); ratios.append(b / u)
        u, b, ratio = statistics.median(updates), statistics.median(rebuilds), statistics.median(ratios)
        print(f'{n} images, +{new} new per repeat ({a.repeats} repeats), offline preset, {torch.get_num_threads()} threads')
        print(f'update {u:.2f} s, rebuild {b:.2f} s -> the update is {ratio:.0f}x faster (median of the side-by-side ratios, {min(ratios):.0f}–{max(ratios):.0f}x)')
        print(f'| index of a photo folder after adding 1 % new photos ({n} images, offline preset): update vs rebuild | {u:.2f} s | {b:.2f} s | {ratio:.0f}× faster |')
    finally: shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__':
    main()
