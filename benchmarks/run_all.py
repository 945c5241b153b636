"""Run every benchmark in this folder and gather their results in one markdown table.

    make bench        # or: .venv/bin/python benchmarks/run_all.py [--quick]

Each `bench_*.py` prints one or more markdown table rows (lines starting with `|`) with the two
sides it measures and their ratio, measured side by side in one run (this machine is shared and
noisy: an absolute time means little, a ratio measured in one run means more). The rows are
gathered into `benchmarks/RESULTS.md` with the date and the machine, and printed. Where torch sees a
CUDA GPU, the GPU-only scripts in `GPU_ONLY` run too (each skips itself without one).
"""
import argparse, datetime, os, platform, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GPU_ONLY = ['gpu_paper_preset.py']
QUICK = {'bench_index.py': ['--n', '200000'], 'bench_ondisk.py': ['--n', '500000'], 'bench_embed_pipeline.py': ['--repeats', '2', '--photos', '16'], 'bench_metrics.py': ['--images', '2000'], 'bench_train_cache.py': ['--epochs', '1']}


def machine() -> str:
    import torch
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor()) \
        if Path('/proc/cpuinfo').exists() else platform.processor()
    mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30 if hasattr(os, 'sysconf') else float('nan')
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'
    return f'{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {gpu}; Python {platform.python_version()}, torch {torch.__version__}'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='smaller sizes (minutes instead of tens of minutes)')
    ap.add_argument('--only', nargs='*', help='run only these bench_*.py files')
    a = ap.parse_args()
    rows, failed = [], []
    import torch
    scripts = sorted(HERE.glob('bench_*.py')) + ([HERE/n for n in GPU_ONLY] if torch.cuda.is_available() else [])
    for script in scripts:
        if a.only and script.name not in a.only: continue
        cmd = [sys.executable, str(script)] + (QUICK.get(script.name, []) if a.quick else [])
        print(f'== {script.name}', flush=True); t = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        print(r.stdout[-2500:], r.stderr[-1500:] if r.returncode else '', sep='', flush=True)
        if r.returncode: failed.append(script.name); continue
        # the 4-column rows (benchmark | clip_nb | baseline | ratio); wider tables stay in the script's own output
        rows += [l for l in r.stdout.splitlines() if l.startswith('|') and l.count('|') == 5 and not set(l) <= set('|-: ')]
        print(f'   ({time.time() - t:.0f} s)')
    stamp = datetime.date.today().isoformat()
    table = '\n'.join(['| benchmark | clip_nb | baseline | ratio |', '|---|---|---|---|'] + rows)
    md = f'Measured on {stamp} on {machine()}{" (quick sizes)" if a.quick else ""}.\n\n{table}\n'
    (HERE/'RESULTS.md').write_text(md)
    print('\n' + md)
    if failed: sys.exit(f'failed: {failed}')


if __name__ == '__main__':
    main()
