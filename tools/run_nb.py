"""Execute notebooks in place and keep their outputs, skipping the cells `nbdev_test` skips.

    .venv/bin/python tools/run_nb.py nbs/00_core.ipynb [more.ipynb ...] [--flags "notest slow gpu"]

Used by developers to refresh the stored outputs (the docs show them) after editing a notebook.
Stops at the first failing cell and exits 1, like `nbdev_test`. Cleans the notebooks (`nbdev_clean`) after.
"""
import argparse, os, sys
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.config import get_config
from nbdev.process import NBProcessor
from nbdev.processors import FrontmatterProc


def run(fn: Path, flags: set[str]) -> bool:
    nb = read_nb(fn)
    proc = NBProcessor(fn, procs=FrontmatterProc, process=True).nb  # parses directives_
    skip = {}
    for c, pc in zip(nb.cells, proc.cells):
        direc = getattr(pc, 'directives_', {}) or {}
        skip[id(c)] = (c.cell_type != 'code' or 'nbdev_export' + '(' in c.source
                       or direc.get('eval:', [''])[0].lower() == 'false' or bool(flags & direc.keys()))
    for c in nb.cells:  # skipped cells keep no stale outputs
        if c.cell_type == 'code' and skip[id(c)]: c.outputs, c.execution_count = [], None
    shell = CaptureShell(fn)
    ok = True
    with working_directory(fn.parent):
        try: shell.run_all(nb, exc_stop=True, preproc=lambda c: skip[id(c)])
        except Exception:
            sys.stderr.write(shell.prettytb(fname=fn) + '\n'); ok = False
    if ok: write_nb(nb, fn)
    return ok


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('notebooks', nargs='+')
    ap.add_argument('--flags', default=None, help='cells with these flags are skipped (default: tst_flags)')
    a = ap.parse_args()
    os.environ['IN_TEST'] = '1'
    flags = set((a.flags if a.flags is not None else get_config().get('tst_flags', '')).split())
    bad = [fn for fn in a.notebooks if not run(Path(fn).resolve(), flags)]
    import subprocess
    for fn in a.notebooks: subprocess.run([str(Path(sys.executable).parent/'nbdev_clean'), '--fname', fn], check=True)
    if bad: sys.exit(f'failed: {bad}')
