"""`clip_nb index` and `clip_nb search` end to end on a tiny run trained on the synthetic set.

One search runs as a separate process through the installed console script (what a user types); the rest,
and the set-up (training, indexing), run in-process through `clip_nb.cli.main` to keep the test short.
"""
import contextlib, io, json, os, shutil, subprocess, sys
from pathlib import Path

import pytest
import torch

from clip_nb.cli import main
from clip_nb.data import synth_pairs
from clip_nb.encoders import DualEncoder

CLI = str(Path(sys.executable).parent/'clip_nb')


def quiet(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main(argv)
        except SystemExit as e: rc = e.code  # an option the parser refuses: usage and the reason, exit 2
    return rc, out.getvalue(), err.getvalue()


def search(*args, process=False):
    "Run `clip_nb search ARGS --json`, in this process or (process=True) through the installed console script."
    argv = ['search', *map(str, args), '--json']
    if process:
        r = subprocess.run([CLI, *argv], capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
        rc, out, err = r.returncode, r.stdout, r.stderr
    else: rc, out, err = quiet(argv)
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('index_cli')
    data = synth_pairs(32, root=tmp/'synth')
    rc, out, err = quiet(['train', '--data', str(data), '--preset', 'tiny', '--random-init', '--epochs', '2',
                          '--batch-size', '16', '--out', str(tmp/'run'), '--no-progress'])
    assert rc == 0, err
    rc, out, err = quiet(['index', '--run', str(tmp/'run'), '--data', str(data), '--out', str(tmp/'index'), '--no-progress'])
    assert rc == 0, err
    return tmp, data


def test_text_and_image_queries(built):
    tmp, data = built
    res = search('--index', tmp/'index', '--text', 'a red circle', '-k', '4', process=True)
    assert res['query'] == 'a red circle' and res['target'] == 'image'
    assert [r['rank'] for r in res['results']] == [1, 2, 3, 4]
    scores = [r['score'] for r in res['results']]
    assert scores == sorted(scores, reverse=True)
    img = sorted((data/'Images').iterdir())[5]
    res = search('--index', tmp/'index', '--image', img, '-k', '1', '--target', 'image')
    assert res['results'][0]['image'] == str(img) and res['results'][0]['score'] > 0.999   # an image's nearest image is itself
    res = search('--index', tmp/'index', '--image', img, '-k', '3')
    assert res['target'] == 'text' and {'caption', 'caption_id', 'image_id'} <= set(res['results'][0])


def test_mmap_gives_the_same_answers(built):
    tmp, _ = built
    a = search('--index', tmp/'index', '--text', 'a small blue square', '-k', '5')
    b = search('--index', tmp/'index', '--text', 'a small blue square', '-k', '5', '--mmap')
    assert a['results'] == b['results']


def test_another_model_is_refused(built):
    tmp, _ = built
    shutil.copytree(tmp/'run', tmp/'other')
    model = DualEncoder.load(tmp/'other'/'best')
    with torch.no_grad(): model.text_head.bias += 0.01   # same architecture, other weights
    model.save(tmp/'other'/'best')
    rc, out, err = quiet(['search', '--index', str(tmp/'index'), '--text', 'a red circle', '--run', str(tmp/'other')])
    assert rc == 1 and 'was built by another model' in err, err


def test_approximate_index_reports_its_recall(built):
    tmp, data = built
    rc, out, err = quiet(['index', '--run', str(tmp/'run'), '--data', str(data), '--out', str(tmp/'hnsw'), '--kind', 'hnsw', '--no-progress'])
    assert rc == 0, err
    assert 'recall@10 cross-modal' in out and 'ef_search' in out, out
    info = json.loads((tmp/'hnsw'/'images'/'index.json').read_text())
    assert info['kind'] == 'hnsw' and info['recall']['cross_modal'] >= 0.95
    res = search('--index', tmp/'hnsw', '--text', 'a red circle', '-k', '3', '--ef-search', '32')
    assert len(res['results']) == 3


def test_bad_queries_exit_with_a_message(built):
    tmp, _ = built
    rc, _, err = quiet(['search', '--index', str(tmp/'index'), '--text', '   '])
    assert rc == 1 and 'empty query' in err
    rc, _, err = quiet(['search', '--index', str(tmp/'index'), '--text', 'x', '-k', '0'])
    assert rc == 2 and 'argument -k: must be an integer ≥ 1, got 0' in err   # refused by the parser, before the model is loaded
    (tmp/'bad.png').write_bytes(b'\x89PNG broken')
    rc, _, err = quiet(['search', '--index', str(tmp/'index'), '--image', str(tmp/'bad.png')])
    assert rc == 1 and str(tmp/'bad.png') in err
    rc, _, err = quiet(['search', '--index', str(tmp/'nowhere'), '--text', 'x'])
    assert rc == 1 and 'holds no index' in err


def test_on_disk_index(built):
    "`--kind ondisk`: the lists in a file beside the index, the same answers as the exact index, and a clean JSON stdout (FAISS's own prints kept off it)."
    tmp, data = built
    rc, out, err = quiet(['index', '--run', str(tmp/'run'), '--data', str(data), '--out', str(tmp/'ondisk'), '--kind', 'ondisk', '--no-progress'])
    assert rc == 0, err
    info = json.loads((tmp/'ondisk'/'images'/'index.json').read_text())
    assert info['kind'] == 'ondisk' and 'lists.ivfdata' in info['files'] and (tmp/'ondisk'/'images'/'lists.ivfdata').is_file()
    assert not list((tmp/'ondisk').glob('clip_nb-ondisk-*'))  # the lists were made beside the index (a link, not a copy), the build folder removed
    exact = search('--index', tmp/'index', '--text', 'a big green triangle', '-k', '5')
    on_disk = search('--index', tmp/'ondisk', '--text', 'a big green triangle', '-k', '5', process=True)
    assert [r['image'] for r in on_disk['results']] == [r['image'] for r in exact['results']]  # 80 candidates re-scored: all 32 images
