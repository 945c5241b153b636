"""Embedding throughput: the whole pipeline (read, decode, resize, forward) against the forward alone on pre-decoded inputs.

    .venv/bin/python benchmarks/bench_embed_pipeline.py [--repeats 3] [--photos 64] [--workers 0 2]

The model is the offline preset (frozen MobileNetV2 + MiniLM); batches of 64 images, 256 captions.

- Images: `encode_image_files` (read, decode, transform — in this process or in `--workers` loader processes —
  then the image tower in its fastest exact form) against `encode_image(x, fast=True)` on the same batches
  decoded and transformed beforehand. On two folders: the Tux Paint sample's 785 pictures (small JPEGs, all
  under 400 px: decoding is cheap) and `--photos` camera-size photos (Tux Paint pictures enlarged to
  4000 × 3000 and saved as JPEG, quality 90), decoded with the transform's draft (the default: `load_image`
  asks PIL for a 1/8-scale decode, still ≥ 224 px) and without it (a full decode, as before).
- Texts: `encode_texts` (tokenize, length-sorted batches) against `encode_text` on the same batches tokenized
  beforehand.

Each repeat times the sides one after the other; prints median throughputs, their ratio pipeline / forward
(1.0: decoding and tokenizing cost nothing) and the range of the repeats' side-by-side ratios. On a machine with few cores the loader processes share them
with the forward's threads.
"""
import argparse, os, shutil, statistics, tempfile, time
os.environ.setdefault('OMP_NUM_THREADS', '2')
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from clip_nb.data import read_pairs, tuxpaint_sample
from clip_nb.encoders import DualEncoder, encode_image_files, encode_texts
from clip_nb.folders import read_images
from clip_nb.loaders import ImagesDataset


def timed(f) -> float:
    t = time.perf_counter(); f(); return time.perf_counter() - t


def forward_images(model, batches):
    for x in batches: F.normalize(model.encode_image(x, fast=True).float(), dim=-1).numpy()


def forward_texts(model, tokens):
    for t in tokens: F.normalize(model.encode_text(**t).float(), dim=-1).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--photos', type=int, default=64, help='camera-size JPEGs to make (4000 × 3000)')
    ap.add_argument('--workers', type=int, nargs='+', default=[0, 2], help='loader processes to try')
    a = ap.parse_args()
    torch.manual_seed(0)
    model = DualEncoder.from_preset('offline').eval()
    sample = Path(tuxpaint_sample(quiet=True))
    small = read_images(sample/'Images', verbose=False).image.tolist()
    tmp = Path(tempfile.mkdtemp())
    try:
        for i, p in enumerate(small[::max(1, len(small) // a.photos)][:a.photos]):
            Image.open(p).convert('RGB').resize((4000, 3000), Image.BICUBIC).save(tmp/f'photo{i:03d}.jpg', quality=90)
        photos = sorted(map(str, tmp.glob('*.jpg')))
        tf = model.image_transform(); plain = model.image_transform(); plain.draft = None
        rows = []
        with torch.no_grad():
            for name, paths in (('Tux Paint pictures (785, under 400 px)', small), (f'camera photos ({len(photos)}, 4000 × 3000 JPEG)', photos)):
                ds = ImagesDataset(paths, tf); batches = [torch.stack([ds[i][0] for i in range(j, min(j + 64, len(paths)))]) for j in range(0, len(paths), 64)]
                forward_images(model, batches[:1]); encode_image_files(model, paths[:8])       # warm-up: the fused tower, the loader
                sides = {'forward': lambda: forward_images(model, batches)}
                for w in a.workers: sides[f'pipeline, {w} workers'] = lambda w=w: encode_image_files(model, paths, 64, w)
                if 'camera' in name:
                    def full_decode(w=min(a.workers)):
                        model.image_transform = lambda train=False: plain # the same transform without the draft
                        try: encode_image_files(model, paths, 64, w)
                        finally: del model.image_transform
                    sides[f'pipeline, {min(a.workers)} workers, no draft (full decode)'] = full_decode
                times = {k: [] for k in sides}
                for _ in range(a.repeats):
                    for k, f in sides.items(): times[k].append(timed(f))
                ratios = {k: statistics.median(times['forward']) / statistics.median(v) for k, v in times.items()} # of the median times shown
                spread = {k: (min(f / t for f, t in zip(times['forward'], v)), max(f / t for f, t in zip(times['forward'], v))) for k, v in times.items()}
                for k, v in times.items():
                    rate = len(paths) / statistics.median(v); rows.append((name, k, rate, ratios[k]))
                    print(f'{name:42} {k:42} {rate:7.1f} images/s  {ratios[k]:.2f} of the forward (repeats {spread[k][0]:.2f}–{spread[k][1]:.2f})', flush=True)
            df = read_pairs(sample, verbose=False); texts = df.caption.tolist()
            lengths = [len(t) for t in model.tokenizer(texts, truncation=True, max_length=model.config.max_length)['input_ids']]
            order = np.argsort(lengths, kind='stable')
            tokens = [model.tokenize([texts[r] for r in order[i:i + 256]]) for i in range(0, len(texts), 256)]
            forward_texts(model, tokens[:1])
            tt = {'forward': [], 'pipeline': []}
            for _ in range(a.repeats):
                tt['forward'].append(timed(lambda: forward_texts(model, tokens))); tt['pipeline'].append(timed(lambda: encode_texts(model, texts, 256)))
            tr = statistics.median(tt['forward']) / statistics.median(tt['pipeline']); ts = sorted(f / p for f, p in zip(tt['forward'], tt['pipeline']))
            print(f"{'Tux Paint captions (' + str(len(texts)) + ')':42} {'forward':42} {len(texts) / statistics.median(tt['forward']):7.1f} captions/s")
            print(f"{'':42} {'pipeline (tokenize + forward)':42} {len(texts) / statistics.median(tt['pipeline']):7.1f} captions/s  {tr:.2f} of the forward (repeats {ts[0]:.2f}–{ts[-1]:.2f})")
    finally: shutil.rmtree(tmp, ignore_errors=True)
    best = lambda name: max((r for r in rows if r[0] == name and r[1] != 'forward' and 'no draft' not in r[1]), key=lambda r: r[3])
    fwd = lambda name: next(r for r in rows if r[0] == name and r[1] == 'forward')
    for name in dict.fromkeys(r[0] for r in rows):
        b, f = best(name), fwd(name)
        nd = next((r for r in rows if r[0] == name and 'no draft' in r[1]), None)
        extra = f"; without draft {nd[2]:.0f} images/s, {nd[3]:.2f}" if nd else ''
        print(f'| embedding throughput, {name}: [`encode_image_files`](nbs/02b_encoders.ipynb) ({b[1][10:]}) vs the fused forward on pre-decoded tensors '
              f'| {b[2]:.0f} images/s | {f[2]:.0f} images/s | {b[3]:.2f} of the forward{extra} |')
    print(f'| embedding throughput, Tux Paint captions: [`encode_texts`](nbs/02b_encoders.ipynb) vs the forward on pre-tokenized batches '
          f"| {len(texts) / statistics.median(tt['pipeline']):.0f} captions/s | {len(texts) / statistics.median(tt['forward']):.0f} captions/s | {tr:.2f} of the forward |")


if __name__ == '__main__':
    main()
