"""The notebooks as users open them: in JupyterLab (a kernel chosen), in Colab (a badge, an install cell),
and the Flickr8k tutorial on every Flickr8k layout a user can download.

`nbdev_test` runs each notebook once; the Flickr8k tutorial runs there on a stand-in in Kaggle's
layout (`Images/` + `captions.txt`). Here it runs again, every cell that `nbdev_test` runs, on a
stand-in in the original archives' layout and in the Karpathy split's.
"""
from __future__ import annotations

import configparser, json, os, re, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if not any(part.startswith(('_', '.')) for part in p.relative_to(ROOT/'nbs').parts))
TUTORIALS = sorted((ROOT/'nbs'/'tutorials').glob('[0-9]*.ipynb'))
GIT_URL = configparser.ConfigParser(delimiters=['=']); GIT_URL.read(ROOT/'settings.ini'); GIT_URL = GIT_URL['DEFAULT']['git_url']


def cells(nb:Path) -> list[dict]: return json.loads(nb.read_text())['cells']
def source(c:dict) -> str: return ''.join(c['source'])


@pytest.mark.parametrize('nb', NBS, ids=lambda p: str(p.relative_to(ROOT/'nbs')))
def test_every_notebook_has_a_kernelspec(nb):
    "JupyterLab opens it with the Python 3 kernel instead of asking which one."
    ks = json.loads(nb.read_text())['metadata'].get('kernelspec', {})
    assert ks.get('name') == 'python3' and ks.get('language') == 'python', f'{nb.name}: kernelspec {ks}'


@pytest.mark.parametrize('nb', TUTORIALS, ids=lambda p: p.name)
def test_tutorials_open_in_colab_and_install_themselves(nb):
    rel = nb.relative_to(ROOT).as_posix()
    slug = GIT_URL.removeprefix('https://github.com/')
    badge = f'https://colab.research.google.com/github/{slug}/blob/main/{rel}'
    assert any(badge in source(c) and 'colab-badge.svg' in source(c) for c in cells(nb)[:3] if c['cell_type'] == 'markdown'), \
        f'{rel}: no "Open in Colab" badge linking to {badge} near the top'
    first = next(source(c) for c in cells(nb) if c['cell_type'] == 'code')
    assert first.startswith('#| eval: false') and f'clip_nb @ git+{GIT_URL}' in first and 'find_spec' in first, \
        f'{rel}: the first code cell must install clip_nb from {GIT_URL} when it is missing (and be skipped by the tests)'


@pytest.mark.parametrize('nb', TUTORIALS, ids=lambda p: p.name)
def test_the_install_cell_does_nothing_where_clip_nb_is_installed(nb):
    "Harmless locally: with clip_nb importable, the cell installs nothing (pip could not reach any index here)."
    code = next(source(c) for c in cells(nb) if c['cell_type'] == 'code').removeprefix('#| eval: false\n')
    env = dict(os.environ, PIP_INDEX_URL='http://127.0.0.1:9/simple', PIP_NO_INDEX='1', PIP_FIND_LINKS='')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and 'nothing to do' in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize('layout', ['original', 'karpathy'])
def test_flickr8k_tutorial_on_each_layout(layout):
    "Every cell nbdev_test runs, on a stand-in in this Flickr8k layout: data, split note, preset, training, test metrics, search."
    env = dict(os.environ, CLIP_NB_STANDIN_LAYOUT=layout, OMP_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false')
    env.pop('FLICKR8K', None)
    r = subprocess.run([str(BIN/'nbdev_test'), '--path', str(ROOT/'nbs'/'tutorials'/'02_flickr8k_paper.ipynb'), '--n_workers', '0'],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, f'the Flickr8k tutorial fails on the {layout} layout:\n{(r.stdout + r.stderr)[-4000:]}'
