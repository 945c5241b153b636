"""Two CPU processes (gloo) give the same contrastive loss and gradients as one process on the whole batch.

Each process holds part of a global batch; a small model (two linear heads and the temperature, like a
`DualEncoder` on cached tower features) is wrapped in DistributedDataParallel; `clip_nb.loss.ClipLoss`
gathers the features of both processes. Compared with one process on the concatenated batch:
- the loss, in every process;
- the model's gradients after DDP's averaging (heads and temperature);
- each process's gradients of its own features, which are world_size × the single-process ones (every
  process computes the same global loss and the gather's backward sums over processes; DDP's averaging
  divides by world_size again).
Control: the loss of each process's rows alone (`gather=False`) must differ from the global one.

Run by pytest, or as a script: `python tests/test_distributed_loss.py` prints the comparison as JSON
(the loss notebook shows it).
"""
import json
import math
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel

from clip_nb.loss import ClipLoss

WORLD = 2
# name: (rows per process, image id of every row of the global batch or None)
CASES = {
    'plain targets': ((4, 4), None),
    'image ids shared across processes': ((4, 4), [0, 1, 2, 3, 3, 0, 5, 5]),
    'uneven halves, shared ids': ((5, 3), [7, 1, 7, 2, 3, 1, 9, 9]),
}


class Heads(torch.nn.Module):
    "Two projection heads and the log of the scale, as in `clip_nb.encoders.DualEncoder`."
    def __init__(self):
        super().__init__()
        self.image_head, self.text_head = torch.nn.Linear(6, 5), torch.nn.Linear(7, 5)
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, image_tower_features, text_tower_features):
        return (F.normalize(self.image_head(image_tower_features), dim=-1),
                F.normalize(self.text_head(text_tower_features), dim=-1), self.logit_scale.exp())


def batch(case):
    "The global batch of a case: tower features (rows of one image share image features) and ids."
    sizes, ids = CASES[case]
    g = torch.Generator().manual_seed(len(case))
    n = sum(sizes)
    img = torch.randn(n, 6, generator=g)
    if ids is not None: img = torch.stack([img[ids.index(i)] for i in ids])
    return img, torch.randn(n, 7, generator=g), None if ids is None else torch.tensor(ids), sizes


def run_case(case, rank=None):
    "Loss and gradients of a case: the whole batch in one process (rank None) or one rank's rows under DDP."
    img_in, txt_in, ids, sizes = batch(case)
    torch.manual_seed(0)
    model = Heads()
    if rank is not None:
        lo = sum(sizes[:rank]); hi = lo + sizes[rank]
        img_in, txt_in, ids = img_in[lo:hi], txt_in[lo:hi], None if ids is None else ids[lo:hi]
        model = DistributedDataParallel(model)
    img, txt, scale = model(img_in, txt_in)
    img.retain_grad(); txt.retain_grad()
    loss = ClipLoss()(img, txt, scale, ids)
    loss.backward()
    module = model.module if rank is not None else model
    out = {'loss': loss.detach().reshape(1), 'image_features.grad': img.grad, 'text_features.grad': txt.grad,
           **{f'{n}.grad': p.grad for n, p in module.named_parameters()}}
    with torch.no_grad():
        out['local_loss'] = ClipLoss(gather=False)(img, txt, scale, ids).reshape(1)
    return out


def worker(rank, port, out_dir):
    "One process of the group: every case, results written as safetensors (no pickle)."
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=WORLD)
    try:
        torch.set_num_threads(1)
        for i, case in enumerate(CASES):
            save_file({k: v.contiguous() for k, v in run_case(case, rank).items()}, f'{out_dir}/case{i}.rank{rank}.safetensors')
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def spawn(out_dir, timeout=180):
    "Run `worker` in WORLD processes; fail (and stop them) if they do not finish within `timeout` seconds."
    # fork where there is one: the children inherit the imported torch instead of importing it again, and
    # torch._dynamo, which DistributedDataParallel imports on construction (seconds each)
    method = 'fork' if 'fork' in mp.get_all_start_methods() else 'spawn'
    if method == 'fork': import torch._dynamo  # noqa: F401
    ctx = mp.start_processes(worker, args=(free_port(), str(out_dir)), nprocs=WORLD, join=False, start_method=method)
    deadline = time.time() + timeout
    while not ctx.join(timeout=1):
        if time.time() > deadline:
            for p in ctx.processes:
                if p.is_alive(): p.terminate()
            raise TimeoutError(f'the {WORLD} gloo processes did not finish within {timeout} s')


def compare():
    "Per case: the single-process loss and the largest differences of every rank's results from it."
    with tempfile.TemporaryDirectory() as d:
        spawn(d)
        ranks = {case: [load_file(f'{d}/case{i}.rank{r}.safetensors') for r in range(WORLD)] for i, case in enumerate(CASES)}
    rows = {}
    for case, results in ranks.items():
        ref, sizes = run_case(case), CASES[case][0]
        d_loss = d_param = d_feat = 0.0
        d_local = math.inf
        for r, res in enumerate(results):
            lo = sum(sizes[:r]); hi = lo + sizes[r]
            d_loss = max(d_loss, (res['loss'] - ref['loss']).abs().item())
            d_local = min(d_local, (res['local_loss'] - ref['loss']).abs().item())
            for k in ref:
                if k.endswith('.grad') and not k.endswith('features.grad'):
                    d_param = max(d_param, (res[k] - ref[k]).abs().max().item())
            for k in ('image_features.grad', 'text_features.grad'):
                d_feat = max(d_feat, (res[k] / WORLD - ref[k][lo:hi]).abs().max().item())
        rows[case] = {'rows per process': '+'.join(map(str, sizes)), 'loss, one process': round(ref['loss'].item(), 6),
                      'max |Δ loss|': d_loss, 'max |Δ param grad|': d_param, 'max |Δ feature grad|': d_feat,
                      '|Δ loss| without gather': round(d_local, 4)}
    return rows


@pytest.fixture(scope='module')
def comparison():
    return compare()


@pytest.mark.parametrize('case', list(CASES))
def test_two_processes_equal_one(comparison, case):
    row = comparison[case]
    assert row['max |Δ loss|'] < 1e-5, row
    assert row['max |Δ param grad|'] < 1e-5, row
    assert row['max |Δ feature grad|'] < 1e-5, row


def test_without_gather_the_loss_differs(comparison):
    "The control: each process's rows alone give another loss, so the comparison above can fail."
    assert all(row['|Δ loss| without gather'] > 1e-2 for row in comparison.values()), comparison


if __name__ == '__main__':
    print(json.dumps(compare(), indent=1))
