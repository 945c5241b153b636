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
