"""Everything `make test` checks, in order, ending with a plain `N passed, M failed` line.

1. notebooks are clean (`nbdev_clean` changes nothing)
2. the package is in sync with the notebooks (`nbdev_export` changes nothing)
3. every notebook's cells pass (`nbdev_test`, default flags: `notest slow gpu` cells skipped), one
   notebook per check, and 4. the pytest tests in `tests/` (each test counts): one job per notebook
   and per test file, two jobs at a time, the longest first
5. the docs build (`_docs/`, one page per notebook) with no defects in its pages (`clip_nb.docs.check_site`:
   raw Quarto syntax, prompts, broken local links), and README.md matches `nbs/index.ipynb` (the same build)
"""
import hashlib, os, subprocess, sys, time, xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
results: list[tuple[str, bool, float]] = []


def record(name, ok, secs, detail=''):
    results.append((name, ok, secs))
    print(f"{'PASS' if ok else 'FAIL'}  {name}  ({secs:.1f}s)" + (f'\n{detail}' if detail and not ok else ''), flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


def digests(pattern):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(ROOT.glob(pattern)) if '.ipynb_checkpoints' not in p.parts}


def unchanged_by(cmd, pattern, what, fix):
    t = time.time(); before = digests(pattern)
    r = run([str(BIN/cmd)])
    after = digests(pattern)
    changed = sorted(str(p.relative_to(ROOT)) for p in set(before) | set(after) if before.get(p) != after.get(p))
    ok = r.returncode == 0 and not changed
    detail = r.stdout + r.stderr + (f'{what}: {changed}\n{fix}' if changed else '')
    record(f'{cmd} leaves {pattern} unchanged', ok, time.time() - t, detail)


def notebooks():
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    return sorted(Path(f) for f in nbglob(get_config().nbs_path))


ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false')
# seconds each job took on the project's 2-core machine: the pool starts the long ones first
LONG = {'08_cli.ipynb': 90, 'test_requirements.py': 90, '01_offline_sample.ipynb': 110, 'test_readme.py': 130, 'test_notebooks.py': 45,
        'test_resume.py': 35, 'test_crash_train.py': 45, 'test_bad_inputs.py': 35, 'test_crash_index.py': 25, '02_flickr8k_paper.ipynb': 25, '02b_encoders.ipynb': 25, '05b_prior.ipynb': 22, '09_docs.ipynb': 21,
        'test_explorer_browser.py': 20, 'docs build': 40, 'test_export_resume.py': 18, 'test_accelerate.py': 60, '03_own_photos.ipynb': 35, '06a_embed.ipynb': 15, '05c_zeroshot.ipynb': 15}


def test_notebook(nb) -> list[tuple]:
    "`nbdev_test` on one notebook: one record."
    t = time.time()
    r = run([str(BIN/'nbdev_test'), '--path', str(nb), '--n_workers', '0'], env=ENV)
    return [(f'nbdev_test {nb.relative_to(ROOT)}', r.returncode == 0, time.time() - t, (r.stdout + r.stderr)[-6000:])]


_DOCS = """
import sys, tempfile
from pathlib import Path
from clip_nb.docs import SiteError, build_docs
root, tmp = Path(sys.argv[1]), Path(tempfile.mkdtemp())
try: build_docs(root, out=root/'_docs', readme=tmp/'README.md', quarto=False)
except SiteError as e: sys.exit(f'the pages have defects:\\n{e}')
if (tmp/'README.md').read_text() != (root/'README.md').read_text():
    print('README.md is stale: it does not match nbs/index.ipynb. Run `make docs` and commit README.md.'); sys.exit(3)
"""


def docs_build(_=None) -> list[tuple]:
    "The site in `_docs/` (one page per notebook, no defects: `clip_nb.docs.check_site`) and README.md as `nbs/index.ipynb` gives it, from one build."
    # the build checks the pages it writes and fails listing their defects; the check is run here too,
    # so that this step fails on them whatever the build does
    t = time.time(); r = run([str(BIN/'python'), '-c', _DOCS, str(ROOT)])
    pages = {p.relative_to(ROOT/'_docs').as_posix() for p in (ROOT/'_docs').rglob('*.html')}
    from clip_nb.docs import check_site, doc_url
    built = r.returncode in (0, 3)
    problems = check_site(ROOT/'_docs', doc_url()) if built else []
    ok = built and not problems and 'index.html' in pages and len(pages) >= len(notebooks())
    out = r.stdout + r.stderr[-6000:] + ''.join(f'{p}\n' for p in problems)
    return [(f'docs build ({len(pages)} pages in _docs/, checked)', ok, time.time() - t, out),
            ('README.md matches nbs/index.ipynb', r.returncode == 0, 0.0, out)]


def test_file(path) -> list[tuple]:
    "pytest on one file: a record per test case that ran (skips are printed, not counted)."
    t = time.time(); junit = ROOT/'.pytest_cache'/f'junit-{path.stem}.xml'; junit.parent.mkdir(exist_ok=True)
    r = run([str(BIN/'python'), '-m', 'pytest', '-q', '-rs', '-p', 'no:cacheprovider', f'--junitxml={junit}', str(path)], env=ENV)
    recs, out = [], r.stdout[-4000:] + r.stderr[-2000:]
    if junit.exists():
        for case in ET.parse(junit).getroot().iter('testcase'):
            bad = case.find('failure') is not None or case.find('error') is not None
            if case.find('skipped') is None: recs.append((f"pytest {case.get('classname')}.{case.get('name')}", not bad, float(case.get('time', 0)), out))
    if r.returncode not in (0, 5) and not any(not ok for _, ok, _, _ in recs): recs.append((f'pytest {path.name}', False, time.time() - t, out))
    if 'SKIPPED' in r.stdout: print(''.join(l + '\n' for l in r.stdout.splitlines() if 'SKIPPED' in l), end='', flush=True)
    return recs


def main():
    t0 = time.time()
    unchanged_by('nbdev_clean', 'nbs/**/*.ipynb', 'notebooks changed by nbdev_clean',
                 'Run `nbdev_clean` (it has now cleaned them) and commit the notebooks.')
    unchanged_by('nbdev_export', 'clip_nb/*.py', 'package files changed by nbdev_export',
                 'The package was out of sync with the notebooks: run `nbdev_export` and commit clip_nb/.')
    # the notebooks and the pytest files, two at a time, the longest first (this machine has 2 cores)
    jobs = [(f'nbdev_test {nb.relative_to(ROOT)}', test_notebook, nb) for nb in notebooks()]
    jobs += [(f'pytest {t.relative_to(ROOT)}', test_file, t) for t in sorted((ROOT/'tests').glob('test_*.py'))]
    jobs += [('docs build', docs_build, None)] # and README.md's check, from the same build
    jobs.sort(key=lambda j: -LONG.get(Path(j[2]).name if j[2] else j[0], 0))
    with ThreadPoolExecutor(2) as ex:
        for fut in as_completed([ex.submit(fn, arg) for _, fn, arg in jobs]):
            for rec in fut.result(): record(*rec)
    passed = sum(ok for _, ok, _ in results); failed = len(results) - passed
    print(f'\nmake test: {time.time() - t0:.0f}s')
    print(f'{passed} passed, {failed} failed')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
