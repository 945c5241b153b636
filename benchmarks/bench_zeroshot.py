"""Zero-shot classification of the Tux Paint pictures by their top-level folders (animals, food, vehicles, …).

    .venv/bin/python benchmarks/bench_zeroshot.py [--epochs 20]

Three models of the offline preset (MobileNetV2 + MiniLM, frozen towers): the heads trained on the
sample's captions (training split), the same with the ConSE prior fused (tuned on validation), and
the prior alone (`clip_nb train --zero-shot`: no training). Each classifies the pictures of the test
split (never trained on) into the 16 folder names, with one prompt ('a photo of a {}.') and with the
8-prompt ensemble (`clip_nb.zeroshot.TEMPLATES`). Prints the accuracies side by side and markdown rows.
"""
import argparse, os
os.environ.setdefault('OMP_NUM_THREADS', '2')
from pathlib import Path

from clip_nb.core import seed_everything
from clip_nb.data import read_pairs, tuxpaint_sample
from clip_nb.encoders import DualEncoder
from clip_nb.features import tower_features
from clip_nb.prior import tune_prior, zero_shot_model
from clip_nb.train import TrainConfig, fit
from clip_nb.zeroshot import TEMPLATES, classify


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=20)
    a = ap.parse_args()
    root = Path(tuxpaint_sample()); df = read_pairs(root, verbose=False)
    seed_everything(0); features = tower_features(DualEncoder.from_preset('offline'), df, progress=False)
    heads = fit(DualEncoder.from_preset('offline'), df, TrainConfig(epochs=a.epochs, batch_size=64, seed=0), features=features, progress=False).model
    fused = fit(DualEncoder.from_preset('offline'), df, TrainConfig(epochs=a.epochs, batch_size=64, seed=0), features=features, progress=False).model
    search = tune_prior(fused, df, features)
    alone = zero_shot_model('offline', df, features)
    test = sorted(df[df.split == 'test'].image.unique())
    truth = [Path(p).relative_to(root/'Images').parts[0] for p in test]; labels = sorted(set(truth))
    rows = {}
    for name, model in (('heads', heads), ('heads + prior', fused), ('prior alone', alone)):
        for prompts, t in (('one prompt', 'a photo of a {}.'), (f'{len(TEMPLATES)} prompts', TEMPLATES)):
            rows[name, prompts] = classify(model, test, labels, t, truth=truth).attrs['accuracy']
    print(f'{len(test)} test pictures, {len(labels)} labels (chance {1 / len(labels):.3f}); prior on the trained heads: {search["prior"]}')
    for (name, prompts), acc in rows.items(): print(f'{name:14} {prompts:10} accuracy {acc:.3f}')
    for name in ('heads', 'heads + prior', 'prior alone'):
        one, ens = rows[name, 'one prompt'], rows[name, f'{len(TEMPLATES)} prompts']
        print(f'| zero-shot accuracy, Tux Paint test pictures ({len(test)}) by their {len(labels)} top-level folders: {name} | {ens:.3f} with {len(TEMPLATES)} prompts averaged | {one:.3f} with one prompt | chance {1 / len(labels):.3f} |')

if __name__ == '__main__':
    main()
