"""clip_nb installs into a Colab runtime without replacing what is there.

pip resolves the package's runtime requirements (settings.ini `requirements`, through setup.py)
together with the libraries a Colab runtime carries, against the package index, as a dry run:
`pip install --dry-run --ignore-installed <those libraries> <this project's requirements>`. Two sets:

- a Colab GPU runtime as it shipped (versions from its `pip list`): torch 2.6, transformers 4.51,
  fastai 2.7.19 with fastcore 1.7.29, fastprogress 1.0.3, ipywidgets 7.7.1, numpy 2.0, pandas 2.2;
- today's releases: fastcore 2 (2.2.38, what fastai current requires), fastai, torch, torchvision,
  transformers and ipywidgets at their newest.

The test fails when pip finds a conflict (ResolutionImpossible) or would install another version
of a library the runtime already has. With the old requirement `fastcore>=1.14,<1.15` the second
set fails (`pip install --dry-run fastcore==2.2.38 fastai .` → ResolutionImpossible). It needs the
package index (CI has it); where the index cannot be reached it is skipped, saying so.
"""
from __future__ import annotations

import configparser, json, re, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

COLAB_2025 = ['torch==2.6.0', 'torchvision==0.21.0', 'transformers==4.51.3', 'accelerate==1.6.0', 'fastai==2.7.19',
              'fastcore==1.7.29', 'fastprogress==1.0.3', 'ipywidgets==7.7.1', 'numpy==2.0.2', 'pandas==2.2.2',
              'matplotlib==3.10.0', 'pillow==11.1.0', 'pyarrow==18.1.0', 'safetensors==0.5.3']
CURRENT = ['fastcore==2.2.38', 'fastai', 'torch', 'torchvision', 'transformers', 'ipywidgets']
OFFLINE = ('Could not find a version', 'No matching distribution', 'Failed to establish', 'Max retries', 'Name or service not known',
           'Temporary failure in name resolution', 'Network is unreachable', 'Connection refused')


def requirements() -> list[str]:
    "clip_nb's runtime requirements, as setup.py gives them to pip (settings.ini `requirements`)."
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT']['requirements'].split()


def resolve(libraries:list[str], report:Path) -> subprocess.CompletedProcess:
    "pip's resolution of clip_nb's requirements with `libraries` (the requirements themselves: no need to build the project)."
    return subprocess.run([sys.executable, '-m', 'pip', 'install', '--dry-run', '--ignore-installed', '--disable-pip-version-check',
                           '--quiet', '--report', str(report), *libraries, *requirements()], capture_output=True, text=True, timeout=900)


def pinned(spec:str) -> tuple[str, str|None]:
    name, _, version = spec.partition('==')
    return re.sub(r'[-_.]+', '-', name).lower(), version or None


@pytest.mark.parametrize('name', ['colab_2025', 'current'])
def test_requirements_resolve_with_a_colab_runtime(name, tmp_path):
    results = _resolve_both(tmp_path)
    libraries, r, report = results[name]
    errors = '\n'.join(l for l in r.stderr.splitlines() if 'is ignored: it is neither' not in l)
    if r.returncode and 'ResolutionImpossible' not in errors and any(m in errors for m in OFFLINE) and not report.exists():
        pytest.skip(f'the package index cannot be reached: {errors.strip().splitlines()[-1]}')
    assert r.returncode == 0, f'clip_nb cannot be installed beside {libraries}:\n{errors[-4000:]}'
    chosen = {re.sub(r'[-_.]+', '-', i['metadata']['name']).lower(): i['metadata']['version'] for i in json.loads(report.read_text())['install']}
    assert {pinned(r.split('>')[0].split('<')[0].split('=')[0])[0] for r in requirements()} <= set(chosen)   # every requirement resolved
    for lib, version in map(pinned, libraries):
        if version: assert chosen[lib] == version, f'installing clip_nb would replace {lib} {version} by {chosen[lib]}'
    if name == 'current': assert chosen['fastcore'].startswith('2.'), chosen['fastcore']
    print(name, {k: chosen[k] for k in ('torch', 'transformers', 'fastcore', 'fastai', 'ipywidgets', 'fastprogress')})


_CACHE: dict = {}

def _resolve_both(tmp_path:Path) -> dict:
    "Both resolutions, run side by side once (each takes half a minute to a minute, mostly waiting for the index)."
    if not _CACHE:
        sets = {'colab_2025': COLAB_2025, 'current': CURRENT}
        with ThreadPoolExecutor(2) as ex:
            futures = {n: (libs, ex.submit(resolve, libs, tmp_path/f'{n}.json'), tmp_path/f'{n}.json') for n, libs in sets.items()}
            _CACHE.update({n: (libs, f.result(), rep) for n, (libs, f, rep) in futures.items()})
    return _CACHE
