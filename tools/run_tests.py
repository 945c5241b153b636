"""Everything `make test` checks, in order, ending with a plain `N passed, M failed` line.

1. notebooks are clean (`nbdev_clean` changes nothing)
2. the package is in sync with the notebooks (`nbdev_export` changes nothing)
3. every notebook's cells pass (`nbdev_test`, default flags: `notest slow gpu` cells skipped), one
   notebook per check, two at a time
4. the pytest tests in `tests/` (each test counts)
5. README.md matches `nbs/index.ipynb`, and the docs build (`_docs/`, one page per notebook) with no
   defects in its pages (`clip_nb.docs.check_site`: raw Quarto syntax, prompts, broken local links)
"""
import hashlib, os, subprocess, sys, time, xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
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


def test_notebook(nb):
    t = time.time()
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false')
    r = run([str(BIN/'nbdev_test'), '--path', str(nb), '--n_workers', '0'], env=env)
    return nb, r.returncode == 0, time.time() - t, r.stdout + r.stderr


def main():
    t0 = time.time()
    unchanged_by('nbdev_clean', 'nbs/**/*.ipynb', 'notebooks changed by nbdev_clean',
                 'Run `nbdev_clean` (it has now cleaned them) and commit the notebooks.')
    unchanged_by('nbdev_export', 'clip_nb/*.py', 'package files changed by nbdev_export',
                 'The package was out of sync with the notebooks: run `nbdev_export` and commit clip_nb/.')
    with ThreadPoolExecutor(2) as ex:
        for nb, ok, secs, out in ex.map(test_notebook, notebooks()):
            record(f'nbdev_test {nb.relative_to(ROOT)}', ok, secs, out[-6000:])
    tests = sorted((ROOT/'tests').glob('test_*.py'))
    if tests:
        t = time.time(); junit = ROOT/'.pytest_cache'/'junit.xml'
        r = run([str(BIN/'python'), '-m', 'pytest', '-q', '-p', 'no:cacheprovider', f'--junitxml={junit}', 'tests'],
                env=dict(os.environ, OMP_NUM_THREADS='1'))
        print(r.stdout[-4000:], r.stderr[-2000:], sep='\n')
        for case in ET.parse(junit).getroot().iter('testcase'):
            bad = case.find('failure') is not None or case.find('error') is not None
            if case.find('skipped') is None: record(f"pytest {case.get('classname')}.{case.get('name')}", not bad, float(case.get('time', 0)))
        if r.returncode not in (0, 5): record('pytest run', False, time.time() - t, r.stdout[-3000:])
    t = time.time(); r = run([str(BIN/'clip_nb_docs'), '--check'])
    record('README.md matches nbs/index.ipynb', r.returncode == 0, time.time() - t, r.stdout + r.stderr)
    # clip_nb_docs checks the pages it writes and exits 1 listing their defects; the check is run here too,
    # so that this step fails on them whatever the command does
    t = time.time(); r = run([str(BIN/'clip_nb_docs'), '--no-readme', '--no-quarto'])
    pages = {p.relative_to(ROOT/'_docs').as_posix() for p in (ROOT/'_docs').rglob('*.html')}
    from clip_nb.docs import check_site, doc_url
    problems = check_site(ROOT/'_docs', doc_url()) if r.returncode == 0 else []
    ok = r.returncode == 0 and not problems and 'index.html' in pages and len(pages) >= len(notebooks())
    record(f'docs build ({len(pages)} pages in _docs/, checked)', ok, time.time() - t,
           r.stdout + r.stderr[-6000:] + ''.join(f'{p}\n' for p in problems))
    passed = sum(ok for _, ok, _ in results); failed = len(results) - passed
    print(f'\nmake test: {time.time() - t0:.0f}s')
    print(f'{passed} passed, {failed} failed')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
