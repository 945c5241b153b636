"""Helpers of the crash tests (`test_crash_train.py`, `test_crash_index.py`). kill -9 anywhere loses nothing: a training run and an index rebuild, killed at every named point.

`clip_nb.files.crash_point(name)` marks the points of a long write where a kill would hurt most: every
optimiser step, the end of every epoch, every atomic file write (`write last.pt`, `write
history.jsonl`, …) and both renames of a folder swap (`folder best: written`, `folder best: old set
aside`). With `CLIP_NB_KILL_AT=name#n` the process sends itself SIGKILL at the n-th passage — the
same as `kill -9` from outside, but at a point the test chooses, so every run of the test hits the
same points.

1. Training (`clip_nb train`, tiny preset, 3 epochs): an uninterrupted run records every point it
   passes. Then, for at least 20 of those points — steps, epoch ends, the writes of `config.json`,
   `history.jsonl`, `last.pt`, both renames of `best/`, the feature cache — a run is killed there and
   `clip_nb train … --resume` finishes it. Each must end with the same weights (`best/` and
   `last.pt`) and the same history as the uninterrupted run.
2. Rebuilding an index over an existing one (`clip_nb index` with another run's model, into the
   folder of the first run's index): killed at every point, the folder must either answer as one
   whole build (the old one or the new one) or refuse as a mixed one; `clip_nb index` run again
   must then give the same index as a rebuild that was never killed.

The runs are forked from this process (torch is imported once: a run takes a second, not five), and
each child is really killed with SIGKILL.
"""
from __future__ import annotations

import contextlib, io, json, os, shutil, signal
from pathlib import Path

import pytest

os.environ.setdefault('OMP_NUM_THREADS', '1'); os.environ['TOKENIZERS_PARALLELISM'] = 'false'
import torch
import clip_nb.files
from clip_nb.cli import main

TRAIN = ['train', '--preset', 'tiny', '--random-init', '--image-backbone', 'mobilenet_v3_small', '--no-progress', '--batch-size', '16', '--lr', '0.01', '--seed', '3', '--epochs', '3']


def forked(argv:list[str], env:dict|None=None, log:Path|None=None) -> int:
    "Run `clip_nb argv` in a forked child; its exit status, or -signal when it was killed. `log` gets the crash points it passed."
    pid = os.fork()
    if pid == 0:
        rc = 99
        try:
            os.environ.update(env or {}); clip_nb.files._PASSED.clear()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                rc = main(argv)
            if log: log.write_text(json.dumps(clip_nb.files._PASSED))
            if rc: print(err.getvalue()[-2000:])
        except BaseException as e: print(f'{type(e).__name__}: {e}')
        finally: os._exit(rc)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def weights(run:Path) -> dict:
    "The run's best model and last checkpoint weights, and its history (without the timings)."
    from safetensors.torch import load_file
    ckpt = torch.load(run/'last.pt', map_location='cpu', weights_only=True)
    hist = [{k: v for k, v in h.items() if k not in ('seconds', 'pairs_per_s', 'eval_seconds')} for h in json.loads(ckpt['history'])]
    return dict(best=load_file(run/'best'/'model.safetensors'), last=ckpt['model'], history=hist, epoch=ckpt['epoch'])


def same(a:dict, b:dict) -> bool:
    return a['history'] == b['history'] and a['epoch'] == b['epoch'] and all(
        a[k].keys() == b[k].keys() and all(torch.equal(a[k][n], b[k][n]) for n in a[k]) for k in ('best', 'last'))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "A sample data set; a training run and an index made once in this process, so that the forked runs start warm (a second each, not three)."
    w = tmp_path_factory.mktemp('crash')
    os.environ['CLIP_NB_HOME'] = str(w/'home')
    assert forked(['sample', '--out', str(w/'data'), '-n', '48', '--size', '32']) == 0
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([*TRAIN[:-2], '--epochs', '1', '--data', str(w/'data'), '--out', str(w/'warm')]) == 0
        assert main(['index', '--run', str(w/'warm'), '--data', str(w/'data'), '--out', str(w/'warm-index'), '--no-progress']) == 0
    return w


def choose(passed:dict[str, int]) -> list[str]:
    "The kill points: every passage of the saves and file writes, steps spread over the run, every epoch end."
    steps = passed['step']
    points = [f'step#{n}' for n in sorted({1, steps // 3, steps // 2, steps - 1, steps})]
    points += [f'{name}#{n}' for name, count in passed.items() if name not in ('step', 'write progress.json') for n in range(1, count + 1)]
    return points
