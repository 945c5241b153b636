"""Epoch time of `fit` with the feature cache vs re-encoding every epoch through the same frozen towers.

    .venv/bin/python benchmarks/bench_train_cache.py [--data DIR] [--preset offline] [--epochs 2]

Both runs train the same model (offline preset: frozen MobileNetV2 + MiniLM, linear heads) on the
same training split with the same batches; the cached run reads the towers' features from the
feature cache (built once beforehand and not counted), the other runs the towers on every batch.
Prints both epoch times (training loop only, evaluation excluded), the ratio, and a markdown row.

Also the per-epoch checkpoint of that run (`last.pt`): written without the frozen towers (what `fit`
does) vs with them (a plain `state_dict` checkpoint), size and write time, three writes each.
"""
import argparse, os, tempfile, time
from pathlib import Path
os.environ.setdefault('OMP_NUM_THREADS', '2')

from clip_nb.core import seed_everything
from clip_nb.data import read_pairs, synth_pairs, tuxpaint_available, tuxpaint_sample
from clip_nb.encoders import DualEncoder
import torch

from clip_nb.train import TrainConfig, fit, save_checkpoint, tower_features


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None, help='data folder (default: the Tux Paint sample, else a synthetic set)')
    ap.add_argument('--preset', default='offline')
    ap.add_argument('--epochs', type=int, default=2)
    a = ap.parse_args()
    data = a.data or (tuxpaint_sample() if tuxpaint_available() else synth_pairs(400, size=128))
    df = read_pairs(data, verbose=False)
    seed_everything(0); model = DualEncoder.from_preset(a.preset)
    t = time.time(); feats = tower_features(model, df, progress=False); build = time.time() - t
    cfg = dict(epochs=a.epochs, batch_size=64, seed=0)
    cached = fit(model, df, TrainConfig(**cfg, cache_features=True), features=feats, progress=False).history
    seed_everything(0); model = DualEncoder.from_preset(a.preset)
    plain = fit(model, df, TrainConfig(**cfg, cache_features=False), progress=False).history
    c, p = cached.seconds.mean(), plain.seconds.mean()
    n = len(df[df.split == 'train'])
    print(f'data: {data} ({n} training pairs); preset {a.preset}; {a.epochs} epochs each')
    print(f'feature cache build (once, or read back): {build:.1f} s')
    print(f'epoch with cached features: {c:.3f} s   epoch re-encoding through the towers: {p:.2f} s   ratio {p / c:.0f}x')
    print(f'| training epoch, cached tower features vs re-encoding ({a.preset} preset, {n} pairs) | {c:.3f} s | {p:.2f} s | {p / c:.0f}x faster |')
    checkpoint_row(model)


def checkpoint_row(model, repeats:int=3):
    "Time `save_checkpoint` of a frozen-tower model with and without the towers, in one run, alternating."
    assert model.frozen_towers, 'the comparison is about frozen towers'
    cfg = TrainConfig()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    times, sizes = {'slim': [], 'full': []}, {}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(repeats):
            for kind in ('slim', 'full'):
                path = Path(d)/f'{kind}.pt'; t = time.time()
                save_checkpoint(path, model, opt, sched, None, 1, 1, cfg, [], 0.0, keep_frozen_towers=kind == 'full')
                times[kind].append(time.time() - t); sizes[kind] = path.stat().st_size / 2**20
    s, f = min(times['slim']), min(times['full'])
    print(f"checkpoint: without the frozen towers {sizes['slim']:.1f} MB in {s:.2f} s; with them {sizes['full']:.1f} MB in {f:.2f} s")
    print(f"| checkpoint per epoch, frozen towers left out (offline preset) | {sizes['slim']:.1f} MB, {s:.2f} s | {sizes['full']:.0f} MB, {f:.2f} s | {sizes['full'] / sizes['slim']:.0f}x smaller, {f / s:.1f}x faster |")


if __name__ == '__main__':
    main()
