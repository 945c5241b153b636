"""`fit` under `accelerate launch` with two CPU processes (gloo, DistributedDataParallel) reaches the
same weights as one process with the doubled batch: the loss gathers features across processes."""
import json, os, socket, subprocess, sys
from pathlib import Path

import torch

from clip_nb.data import synth_pairs
from clip_nb.train import load_checkpoint

BIN = Path(sys.executable).parent


def _args(data, out, batch):
    return ['train', '--data', str(data), '--preset', 'tiny', '--random-init', '--epochs', '3', '--batch-size', str(batch),
            '--lr', '3e-3', '--max-grad-norm', '0', '--seed', '5', '--out', str(out), '--no-progress']


def test_two_processes_equal_one_process_with_double_batch(tmp_path):
    env = dict(os.environ, CLIP_NB_HOME=str(tmp_path/'home'), OMP_NUM_THREADS='1')
    data = synth_pairs(48, root=tmp_path/'synth')
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    # no GPU here: the two processes run on the CPU and join with gloo (fit's Accelerator has cpu=True)
    launch = [str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
              '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', str(port), '-m', 'clip_nb.cli']
    r = subprocess.run(launch + _args(data, tmp_path/'ddp', 8), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run([str(BIN/'clip_nb')] + _args(data, tmp_path/'one', 16), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    assert json.loads((tmp_path/'ddp'/'config.json').read_text())['processes'] == 2
    ddp, one = load_checkpoint(tmp_path/'ddp'/'last.pt'), load_checkpoint(tmp_path/'one'/'last.pt')
    assert ddp['epoch'] == one['epoch'] == 3 and ddp['step'] == one['step'] > 0
    for a, b in zip(ddp['history'], one['history']):
        assert abs(a['train_loss'] - b['train_loss']) < 1e-4, (a['train_loss'], b['train_loss'])
    for k, v in one['model'].items():
        assert torch.allclose(v, ddp['model'][k], atol=1e-4), (k, (v - ddp['model'][k]).abs().max())
    assert ddp['history'][-1]['train_loss'] < ddp['history'][0]['train_loss']


def test_two_processes_embed_a_folder_like_one(tmp_path):
    """`accelerate launch -m clip_nb embed`: each process embeds its share, the main one writes the export — the same rows, in the
    same order, the same vectors as one process; killed (-9) after a process's first chunk, the launch resumes from the chunks written."""
    import numpy as np
    from clip_nb.vectors import Embeddings
    env = dict(os.environ, CLIP_NB_HOME=str(tmp_path/'home'), OMP_NUM_THREADS='1')
    data = synth_pairs(48, root=tmp_path/'synth')
    r = subprocess.run([str(BIN/'clip_nb')] + _args(data, tmp_path/'run', 16), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    photos = tmp_path/'photos'; (photos/'more').mkdir(parents=True)
    for p in sorted((data/'Images').glob('*.png'))[:30]: (photos/p.name).write_bytes(p.read_bytes())
    for p in sorted((data/'Images').glob('*.png'))[30:]: (photos/'more'/p.name).write_bytes(p.read_bytes())
    (photos/'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)   # a header, no picture: skipped and counted by both
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    launch = [str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
              '--dynamo_backend', 'no', '--main_process_port', str(port), '-m', 'clip_nb'] # the package itself (clip_nb/__main__.py); train uses -m clip_nb.cli
    embed = lambda out: ['embed', '--run', str(tmp_path/'run'), '--images', str(photos), '--out', str(out), '--batch-size', '4', '--check-images', 'none', '--no-progress']
    killed = subprocess.run(launch + embed(tmp_path/'two'), env=dict(env, CLIP_NB_KILL_AT='images chunk'), capture_output=True, text=True, timeout=600)
    assert killed.returncode != 0 and not (tmp_path/'two'/'embeddings.json').exists()
    chunks = list((tmp_path/'two'/'.pending').glob('*.npz')); assert chunks, killed.stdout[-2000:] + killed.stderr[-2000:]
    r = subprocess.run(launch + embed(tmp_path/'two') + ['--json'], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    two = json.loads(r.stdout)   # one answer: the main process's
    r = subprocess.run([str(BIN/'clip_nb')] + embed(tmp_path/'one') + ['--json'], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    one = json.loads(r.stdout)
    assert one['images'] == two['images'] == 48 and one['unreadable'] == two['unreadable'] == {str(photos/'broken.png'): 'unreadable'}
    assert two['unchanged'] >= 1   # the chunks the killed launch had finished were not embedded again
    a, b = Embeddings.open(tmp_path/'one'), Embeddings.open(tmp_path/'two')
    assert a.meta.drop(columns=[]).equals(b.meta) and b.info['processes'] == 2
    assert np.allclose(a.to_numpy(), b.to_numpy(), atol=1e-5), np.abs(a.to_numpy() - b.to_numpy()).max()
