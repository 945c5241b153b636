"""An embedding export killed with SIGKILL part-way is never taken for a finished one; the next run
resumes it, keeps the shards already written, and ends equal to an uninterrupted export."""
import os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

from clip_nb.core import seed_everything
from clip_nb.data import synth_pairs
from clip_nb.encoders import DualEncoder
from clip_nb.index import Embeddings

# The export, as its own process. The towers are trainable (so every shard is encoded from the image
# files, not from cached features), and `SLOW` seconds are added to each batch of images so that a
# kill lands between shards; what is measured, the export and its resume, is the library's own code.
SCRIPT = '''
import sys, time
import clip_nb.embed as ix
from clip_nb.encoders import DualEncoder
model_dir, data, out, slow = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
encode = ix.encode_images
def slowed(*a, **k): time.sleep(slow); return encode(*a, **k)
ix.encode_images = slowed
ix.export_embeddings(DualEncoder.load(model_dir), data, out, batch_size=8, shard_size=8, progress=False)
'''


def export(model_dir, data, out, slow=0.0, wait=True):
    cmd = [sys.executable, '-c', SCRIPT, str(model_dir), str(data), str(out), str(slow)]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    if wait: return subprocess.run(cmd, check=True, env=env, capture_output=True)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill9_then_resume_matches_uninterrupted(tmp_path):
    data = synth_pairs(48, root=tmp_path/'synth')
    seed_everything(0)
    DualEncoder.from_preset('tiny', pretrained=False, image_trainable_blocks=None).save(tmp_path/'model')
    export(tmp_path/'model', data, tmp_path/'full')

    proc = export(tmp_path/'model', data, tmp_path/'cut', slow=0.2, wait=False)
    images, deadline = tmp_path/'cut'/'images', time.time() + 120
    while not (images/'progress.json').exists() and time.time() < deadline and proc.poll() is None: time.sleep(0.01)
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the export should still be running when killed'
    with pytest.raises(FileNotFoundError, match='not a finished embedding export'): Embeddings.open(images)
    done = {p.name: p.stat().st_mtime_ns for p in images.glob('0*.npy')}
    n_shards = len(Embeddings.open(tmp_path/'full'/'images').info['shards'])
    assert 1 <= len(done) < n_shards, f'the kill should land part-way ({len(done)} of {n_shards} shards written)'

    export(tmp_path/'model', data, tmp_path/'cut')
    for name, mtime in done.items(): assert (images/name).stat().st_mtime_ns == mtime, f'{name} was written again'
    assert not list(images.glob('.*.tmp')) and not (images/'progress.json').exists()
    for folder in ('images', 'captions'):
        a, b = Embeddings.open(tmp_path/'full'/folder), Embeddings.open(tmp_path/'cut'/folder)
        assert np.array_equal(a.to_numpy(), b.to_numpy()), folder
        assert a.meta.equals(b.meta) and a.info['shards'] == b.info['shards'], folder
