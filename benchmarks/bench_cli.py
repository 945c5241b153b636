"""How fast the `clip_nb` command answers: `--help`, and many text queries in one `search` call.

    .venv/bin/python benchmarks/bench_cli.py [--calls 10] [--queries 100]

1. `clip_nb --help` and `clip_nb train --help`, each as its own process (the console script, as a
   user types it), against the same parser built after the imports the command made before it
   imported lazily (torch, transformers, FAISS through clip_nb.train, .index and .encoders): the
   best of 5 runs each.
2. 100 text queries against an index (the offline preset on 200 synthetic pictures, built first
   and not counted): one `clip_nb search --queries FILE` call against one `clip_nb search --text Q`
   call per query. The per-query calls are timed on `--calls` of them (10 by default: a call takes
   seconds) and scaled to 100; `--calls 100` times them all.

Prints both sides, the ratios and markdown rows.
"""
import argparse, os, subprocess, sys, tempfile, time
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = str(BIN/'clip_nb')
EAGER = ("import clip_nb.train, clip_nb.index, clip_nb.encoders, sys; from clip_nb.cli import build_parser; "
         "sys.argv = ['clip_nb'] + sys.argv[1:]; build_parser().parse_args()")


def wall(cmd:list[str], repeat:int=1, **kw) -> float:
    "The best wall time of `repeat` runs of `cmd`, in seconds (each run must succeed)."
    best = float('inf')
    for _ in range(repeat):
        t = time.perf_counter(); r = subprocess.run(cmd, capture_output=True, text=True, **kw)
        if r.returncode: sys.exit(f'{cmd} failed ({r.returncode}):\n{r.stderr[-2000:]}')
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--calls', type=int, default=10, help='separate search calls to time (scaled to --queries)')
    ap.add_argument('--queries', type=int, default=100)
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))

    rows = []
    for args in (['--help'], ['train', '--help']):
        lazy = wall([CLI, *args], 5, env=env)
        eager = wall([sys.executable, '-c', EAGER, *args], 5, env=env)
        name = ' '.join(['clip_nb', *args])
        print(f'{name}: {lazy:.2f} s; with the heavy imports first: {eager:.2f} s ({eager / lazy:.0f}x)')
        rows.append(f'| `{name}` wall time | {lazy:.2f} s (lazy imports) | {eager:.2f} s (the same parser after importing torch, transformers, FAISS) | {eager / lazy:.0f}x faster |')

    with tempfile.TemporaryDirectory() as work:
        w = Path(work)
        for cmd in (['sample', '--out', 'shapes'], ['train', '--data', 'shapes', '--out', 'run', '--epochs', '2', '--no-progress'],
                    ['index', '--run', 'run', '--data', 'shapes', '--out', 'index', '--no-progress']):
            wall([CLI, *cmd], cwd=w, env=env)
        from clip_nb.data import read_pairs
        texts = read_pairs(w/'shapes', verbose=False).caption.drop_duplicates().head(a.queries).tolist()
        (w/'queries.txt').write_text('\n'.join(texts) + '\n')
        one = wall([CLI, 'search', '--index', 'index', '--queries', 'queries.txt', '-k', '5', '--json'], cwd=w, env=env)
        n = min(a.calls, len(texts))
        t = time.perf_counter()
        for q in texts[:n]: wall([CLI, 'search', '--index', 'index', '--text', q, '-k', '5', '--json'], cwd=w, env=env)
        each = (time.perf_counter() - t) / n
    many = each * len(texts)
    print(f'{len(texts)} queries: one call {one:.1f} s; one call per query {each:.2f} s each, {many:.0f} s for {len(texts)} '
          f'({"timed" if n == len(texts) else f"{n} calls timed, scaled"}); {many / one:.0f}x')
    rows.append(f'| {len(texts)} text queries, offline preset, 200-picture index | one `clip_nb search --queries` call: {one:.1f} s '
                f'| one call per query: {many:.0f} s ({each:.1f} s a call{"" if n == len(texts) else f"; {n} timed"}) | {many / one:.0f}x faster |')
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
