"""Epoch time of `fit` with the feature cache vs re-encoding every epoch through the same frozen towers.

    .venv/bin/python benchmarks/bench_train_cache.py [--data DIR] [--preset offline] [--epochs 2]

Both runs train the same model (offline preset: frozen MobileNetV2 + MiniLM, linear heads) on the
same training split with the same batches; the cached run reads the towers' features from the
feature cache (built once beforehand and not counted), the other runs the towers on every batch.
Prints both epoch times (training loop only, evaluation excluded), the ratio, and a markdown row.
"""
import argparse, os, time
os.environ.setdefault('OMP_NUM_THREADS', '2')

from clip_nb.core import seed_everything
from clip_nb.data import read_pairs, synth_pairs, tuxpaint_available, tuxpaint_sample
from clip_nb.encoders import DualEncoder
from clip_nb.train import TrainConfig, fit, tower_features


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


if __name__ == '__main__':
    main()
