"""clip_nb.data across processes: loaders under the 'spawn' start method (the default on macOS and Windows), and
the split and ids of `read_pairs` identical in a fresh interpreter with another hash seed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from clip_nb.core import text_backbone_source
from clip_nb.data import image_transform, read_pairs, set_epoch, synth_pairs, train_loader


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    root = synth_pairs(12, size=32, root=tmp_path_factory.mktemp('synth')/'shapes', seed=5)
    return root, read_pairs(root, verbose=False)


def test_spawned_workers_skip_a_bad_image_and_tokenize(synth):
    "Everything a worker needs (dataset, transform, collate with tokenizer) pickles; a bad image is reported, not raised."
    root, df = synth
    bad = df.image[df.image_id == 4].iloc[0]
    good = Path(bad).read_bytes()
    Path(bad).write_bytes(good[:len(good) // 2])
    try:
        tok = AutoTokenizer.from_pretrained(text_backbone_source('sentence-transformers/all-MiniLM-L6-v2'))
        dl = train_loader(df, image_transform('mobilenet_v2', size=32), tok, batch_size=4, one_caption_per_image=True, num_workers=1, drop_last=False,
                          multiprocessing_context='spawn')
        ids, skipped = [], set()
        for epoch in range(2):
            set_epoch(dl, epoch)
            for b in dl:
                ids += b['image_ids'].tolist(); skipped.update(b['bad_images'])
                assert b['tokens']['input_ids'].shape[0] == len(b['image_ids']) == b['images'].shape[0]
        assert skipped == {bad}
        assert sorted(ids) == sorted([i for i in range(12) if i != 4] * 2)
    finally:
        Path(bad).write_bytes(good)


def test_read_pairs_is_the_same_in_another_process(synth):
    root, df = synth
    code = ('import json, sys; from clip_nb.data import read_pairs; df = read_pairs(sys.argv[1], verbose=False); '
            'print(json.dumps([df.image.tolist(), df.image_id.tolist(), df.split.tolist()]))')
    r = subprocess.run([sys.executable, '-c', code, str(root)], capture_output=True, text=True,
                       env={**os.environ, 'PYTHONHASHSEED': '7', 'OMP_NUM_THREADS': '1'}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [df.image.tolist(), df.image_id.tolist(), df.split.tolist()]
