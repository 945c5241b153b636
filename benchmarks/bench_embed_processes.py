"""Embedding a photo folder on two processes (`accelerate launch -m clip_nb embed`) against one, side by side.

    .venv/bin/python benchmarks/bench_embed_processes.py [--copies 2] [--repeats 2] [--processes 2]

The folder is the Tux Paint sample's 785 pictures, `--copies` times, each copy tinted in one corner (new bytes:
the export embeds every file, a plain copy would reuse its twin's vector). The run is `clip_nb train --zero-shot`
(the offline preset's towers). Each repeat times, one after the other, `clip_nb embed` in one process with every
core's thread and `accelerate launch --num_processes P -m clip_nb embed` with cores / P threads each, into fresh
folders; the times include starting the processes, as a user sees them. The issue's goal is ≥ 1.6× with 2
processes on a machine with ≥ 4 cores: on fewer cores the processes share the cores one process already uses.
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, tempfile, time
from pathlib import Path

from PIL import Image

BIN = Path(sys.executable).parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--copies', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--processes', type=int, default=2)
    a = ap.parse_args()
    from clip_nb.data import tuxpaint_sample
    from clip_nb.folders import read_images
    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp())
    try:
        src = read_images(Path(tuxpaint_sample(quiet=True))/'Images', verbose=False).image.tolist()
        for c in range(a.copies):
            (tmp/'photos'/f'copy{c}').mkdir(parents=True)
            for i, p in enumerate(src):
                im = Image.open(p).convert('RGB'); im.paste((c * 53 % 256, i % 256, 120), (0, 0, 4, 4)); im.save(tmp/'photos'/f'copy{c}'/f'{i:04d}.jpg', quality=92)
        env = dict(os.environ, CLIP_NB_HOME=os.environ.get('CLIP_NB_HOME', str(Path.home()/'.cache'/'clip_nb')))
        subprocess.run([str(BIN/'clip_nb'), 'train', '--zero-shot', '--out', str(tmp/'run')], env=env, check=True, capture_output=True)
        embed = lambda out: ['embed', '--run', str(tmp/'run'), '--images', str(tmp/'photos'), '--out', str(out), '--check-images', 'none', '--no-progress']
        one, many = [], []
        for r in range(a.repeats):
            t = time.perf_counter()
            subprocess.run([str(BIN/'clip_nb'), *embed(tmp/f'one{r}')], env=dict(env, OMP_NUM_THREADS=str(cores)), check=True, capture_output=True)
            one.append(time.perf_counter() - t)
            with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
            launch = [str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', str(a.processes), '--num_machines', '1', '--mixed_precision', 'no',
                      '--dynamo_backend', 'no', '--main_process_port', str(port), '-m', 'clip_nb']
            t = time.perf_counter()
            subprocess.run(launch + embed(tmp/f'many{r}'), env=dict(env, OMP_NUM_THREADS=str(max(1, cores // a.processes))), check=True, capture_output=True)
            many.append(time.perf_counter() - t)
        n = len(src) * a.copies; o, m = statistics.median(one), statistics.median(many)
        ratio = statistics.median([x / y for x, y in zip(one, many)])
        print(f'{n} images, {cores} cores, {a.repeats} repeats: 1 process {o:.1f} s ({n / o:.0f} images/s), {a.processes} processes {m:.1f} s ({n / m:.0f} images/s)')
        print(f'| embedding a photo folder ({n} images, offline preset, {cores} cores): `accelerate launch --num_processes {a.processes} -m clip_nb embed` vs one process '
              f'| {n / m:.0f} images/s | {n / o:.0f} images/s | {ratio:.2f}x the throughput (goal ≥ 1.6x with 2 processes on ≥ 4 cores) |')
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
