"""A `clip_nb train` process killed with SIGKILL and resumed ends on the same weights as an
uninterrupted run with the same seed (CPU)."""
import os, signal, subprocess, sys, time
from pathlib import Path

import torch

from clip_nb.data import synth_pairs
from clip_nb.train import load_checkpoint

CLI = str(Path(sys.executable).parent/'clip_nb')
EPOCHS = 12


def _train(data, out, *extra):
    return [CLI, 'train', '--data', str(data), '--preset', 'tiny', '--random-init', '--no-cache-features',
            '--epochs', str(EPOCHS), '--batch-size', '16', '--seed', '3', '--out', str(out), '--no-progress', *extra]


def test_kill9_then_resume_matches_uninterrupted(tmp_path):
    env = dict(os.environ, CLIP_NB_HOME=str(tmp_path/'home'), OMP_NUM_THREADS='1')
    data = synth_pairs(40, root=tmp_path/'synth')
    subprocess.run(_train(data, tmp_path/'full'), check=True, env=env, capture_output=True)

    proc = subprocess.Popen(_train(data, tmp_path/'cut'), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last, deadline = tmp_path/'cut'/'last.pt', time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None: time.sleep(0.02)
    time.sleep(0.3)  # land somewhere inside a later epoch, whatever the process is doing
    proc.send_signal(signal.SIGKILL); proc.wait()
    killed_at = load_checkpoint(last)['epoch']
    assert 1 <= killed_at < EPOCHS, f'the kill should land mid-run (checkpoint at epoch {killed_at})'

    subprocess.run(_train(data, tmp_path/'cut', '--resume'), check=True, env=env, capture_output=True)
    a, b = load_checkpoint(tmp_path/'full'/'last.pt'), load_checkpoint(last)
    assert a['epoch'] == b['epoch'] == EPOCHS
    for k, v in a['model'].items(): assert torch.equal(v, b['model'][k]), k
    assert [h['val_rsum'] for h in a['history']] == [h['val_rsum'] for h in b['history']]
