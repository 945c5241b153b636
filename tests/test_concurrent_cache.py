"""Two processes asking for the same feature-cache entry at the same moment (two trainings started on
the same data) both get complete, identical features, and the towers run once: one process builds
the entry, the other waits for it and reads it."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np

from clip_nb.core import seed_everything
from clip_nb.data import synth_pairs
from clip_nb.encoders import DualEncoder

N_IMAGES, BATCH = 64, 4

# Each process counts its image-tower batches; each batch is slowed down so that the two builds overlap.
SCRIPT = f'''
import sys, time, numpy as np
from clip_nb.data import read_pairs
from clip_nb.encoders import DualEncoder
from clip_nb.train import tower_features
model, calls = DualEncoder.load(sys.argv[1]), [0]
features = model.image_encoder.features
def counted(*a, **k): calls[0] += 1; time.sleep(0.05); return features(*a, **k)
model.image_encoder.features = counted
f = tower_features(model, read_pairs(sys.argv[2], verbose=False), batch_size={BATCH}, progress=False)
np.save(sys.argv[3], np.concatenate([np.asarray(f.image).ravel(), np.asarray(f.text).ravel()]))
print(f.key, calls[0])
'''


def test_two_processes_build_one_entry(tmp_path):
    data = synth_pairs(N_IMAGES, root=tmp_path/'synth')
    seed_everything(0); DualEncoder.from_preset('tiny', pretrained=False).save(tmp_path/'model')
    env = dict(os.environ, CLIP_NB_HOME=str(tmp_path/'home'), OMP_NUM_THREADS='1')
    procs = [subprocess.Popen([sys.executable, '-c', SCRIPT, str(tmp_path/'model'), str(data), str(tmp_path/f'{i}.npy')],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs): assert p.returncode == 0, err[-2000:]
    keys, calls = zip(*(out.strip().splitlines()[-1].split() for out, _ in outs))
    assert len(set(keys)) == 1
    assert sorted(map(int, calls)) == [0, N_IMAGES // BATCH], f'image-tower batches per process: {calls} (the towers must run once)'
    a, b = np.load(tmp_path/'0.npy'), np.load(tmp_path/'1.npy')
    assert np.array_equal(a, b) and np.isfinite(a).all() and np.abs(a).sum() > 0
    entry = tmp_path/'home'/'features'/keys[0]
    assert json.loads((entry/'meta.json').read_text())['shapes']['image'][0] == N_IMAGES   # finished, and marked so
