"""How lean `fit`'s loop is on cached features: one epoch of `fit` against a minimal hand-written loop, and evaluation against the epoch.

    .venv/bin/python benchmarks/bench_fit_loop.py [--data DIR] [--repeats 20] [--epochs 4]

Both sides train the same model (the offline preset: frozen MobileNetV2 + MiniLM, linear heads, the
learnable temperature) from the same seed on the same cached tower features, with the same batches
(`EpochBatches`, batch 64), optimiser (AdamW with `param_groups`) and loss (`ClipLoss`). The minimal
loop is forward, loss, backward, step, zero the gradients — nothing else; `fit` adds what a run
needs (the schedule, clipping, the temperature clamp, the NaN and divergence guards, progress,
Accelerate). An epoch's time is `fit`'s own `seconds` (the training loop only); `eval_seconds` is
the evaluation after it. `--repeats` short runs of `--epochs` epochs each, the two sides alternating
run by run; the ratio is the median of the runs' side-by-side ratios (this shared machine's speed drifts). Prints both, the ratios and markdown rows.
"""
import argparse, os, statistics, time
os.environ.setdefault('OMP_NUM_THREADS', '2')

import numpy as np
import torch

from clip_nb.core import seed_everything
from clip_nb.data import EpochBatches, read_pairs, split_rows, synth_pairs, tuxpaint_available, tuxpaint_sample
from clip_nb.encoders import DualEncoder
from clip_nb.features import tower_features
from clip_nb.loss import ClipLoss
from clip_nb.train import TrainConfig, fit, param_groups


def minimal_epochs(df, features, cfg, epochs:int) -> list[float]:
    "Seconds of each epoch of the plainest loop over the same heads, optimiser, loss and batches."
    seed_everything(cfg.seed); model = DualEncoder.from_preset('offline')
    train = df.iloc[split_rows(df, 'train')]
    fi, ft = torch.from_numpy(np.asarray(features.image)), torch.from_numpy(np.asarray(features.text[split_rows(df, 'train')]))
    rows_img, ids = torch.from_numpy(features.rows(train['image'].tolist())), torch.from_numpy(train['image_id'].to_numpy())
    opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != 'names'} for g in param_groups(model, cfg)], betas=(0.9, 0.98), eps=1e-6)
    loss_fn, batches, out = ClipLoss(), EpochBatches(train['image_id'].to_numpy(), cfg.batch_size, cfg.seed), []
    model.train()
    for epoch in range(epochs):
        batches.set_epoch(epoch); t = time.perf_counter()
        for rows in batches:
            r = torch.as_tensor(rows)
            img, txt, scale = model(image_tower_features=fi[rows_img[r]], text_tower_features=ft[r])
            loss = loss_fn(img, txt, scale, ids[r]); loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        out.append(time.perf_counter() - t)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None, help='data folder (default: the Tux Paint sample, else a synthetic set)')
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--epochs', type=int, default=4)
    a = ap.parse_args()
    data = a.data or (tuxpaint_sample() if tuxpaint_available() else synth_pairs(400, size=128))
    df = read_pairs(data, verbose=False)
    seed_everything(0); features = tower_features(DualEncoder.from_preset('offline'), df, progress=False)
    cfg = TrainConfig(epochs=a.epochs, batch_size=64, seed=0)
    fit_epoch, fit_eval, minimal, ratios = [], [], [], []
    for _ in range(a.repeats):
        seed_everything(0)
        h = fit(DualEncoder.from_preset('offline'), df, cfg, features=features, progress=False).history
        f, e = h.seconds.iloc[1:].tolist(), h.eval_seconds.iloc[1:].tolist()   # the first epoch warms up
        m = minimal_epochs(df, features, cfg, a.epochs)[1:]
        fit_epoch += f; fit_eval += e; minimal += m; ratios.append(statistics.median(m) / statistics.median(f))
    f, e, m, r = (statistics.median(v) for v in (fit_epoch, fit_eval, minimal, ratios))
    q = statistics.quantiles(ratios, n=4)
    n = len(df[df.split == 'train'])
    print(f'{n} training pairs, batch 64, {a.repeats} runs × {a.epochs - 1} timed epochs each, {torch.get_num_threads()} threads')
    print(f'epoch: fit {1e3 * f:.1f} ms, minimal loop {1e3 * m:.1f} ms -> fit runs at {r:.2f} of the minimal loop\'s pairs/s '
          f'(median of the {a.repeats} side-by-side ratios, quartiles {q[0]:.2f}–{q[2]:.2f})')
    print(f'evaluation after an epoch: {1e3 * e:.1f} ms = {100 * e / f:.0f} % of the epoch')
    print(f'| training epoch on cached features, fit vs a minimal loop (offline preset, {n} pairs, batch 64) | {1e3 * f:.1f} ms | {1e3 * m:.1f} ms | {r:.2f} of its pairs/s (quartiles {q[0]:.2f}–{q[2]:.2f}) |')
    print(f'| evaluation after each epoch, cached features (validation split) | {1e3 * e:.1f} ms | the epoch, {1e3 * f:.1f} ms | {100 * e / f:.0f} % of it |')

if __name__ == '__main__':
    main()
