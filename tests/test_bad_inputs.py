"""Bad input and faults, tried as a careful user and as an attacker would: every case ends in a clear
answer and loses nothing.

Each case runs the `clip_nb` command (in this process, as the console script would) on a small
world — a sample data set, a run trained on it, its index — after making one thing wrong, and checks:

- the exit status (1: an error of the user's input; 2: an option refused by the parser; 0 where
  the right answer is to go on, e.g. an unreadable image skipped and counted);
- the message: it names the culprit (the file, line, option or value) and what to do;
- no traceback, and an error is one line (`clip_nb CMD: error: …`);
- nothing else on disk changed: the world's files are the same before and after, but for what
  the case may write (its own output).

The cases are grouped by the classes of issue #13 (1–12); each class has cases that failed before
the fixes (see the closing note for which).
"""
from __future__ import annotations

import contextlib, hashlib, io, json, os, shutil, struct, zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault('OMP_NUM_THREADS', '1')
from clip_nb.cli import main


@dataclass
class Case:
    name: str                       # what is wrong
    cls: int                        # the class of issue #13 it belongs to (1–12)
    argv: list                      # the command; '{w}' is the world folder
    says: list                      # what the message (stderr, or stdout for a success) must contain
    setup: Callable|None = None     # makes the bad input: setup(world)
    rc: int = 1                     # the exit status
    writes: list = field(default_factory=list)  # what the case may change (relative to the world)


def world_files(root:Path, skip:tuple=()) -> dict:
    "Every file under `root` with its size and digest (folders too), but those under `skip`."
    out = {}
    for p in sorted(root.rglob('*')):
        rel = p.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(s + '/') for s in skip): continue
        out[rel] = 'dir' if p.is_dir() else (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def png_bytes(w:int, h:int) -> bytes:
    "A grey PNG of w × h pixels, written by hand (a 1×60000 strip is 316 bytes)."
    raw = b''.join(b'\x00' + b'\x80' * w for _ in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')


def data_copy(w:Path, name:str, captions:bytes|None=None, extra:dict|None=None) -> Path:
    "A copy of the world's data set as `cases/name`, with another captions.txt and extra image files."
    d = w/'cases'/name; shutil.copytree(w/'data', d)
    if captions is not None: (d/'captions.txt').write_bytes(captions)
    for f, b in (extra or {}).items(): (d/'Images'/f).write_bytes(b)
    return d


def caption_lines(w:Path) -> list[str]: return (w/'data'/'captions.txt').read_text().splitlines()


def corrupt(path:Path, how:str):
    "Damage a file: 'flip' bytes in place (the same size), 'cut' it short, 'junk' its text, 'empty' its JSON."
    b = bytearray(path.read_bytes())
    if how == 'flip':
        for i in range(len(b) // 2, len(b), 97): b[i] ^= 0x7F
        path.write_bytes(bytes(b))
    elif how == 'cut': path.write_bytes(bytes(b[:len(b) // 3]))
    elif how == 'junk': path.write_text('{"format": ')
    elif how == 'empty': path.write_text('{}')


def mixed_index(w:Path):
    "An index folder whose captions/ come from another build (a rebuild killed between the two parts)."
    shutil.copytree(w/'index', w/'cases'/'mixed')
    shutil.rmtree(w/'cases'/'mixed'/'captions'); shutil.copytree(w/'index2'/'captions', w/'cases'/'mixed'/'captions')


def thin_data(w:Path):
    d = data_copy(w, 'thin', extra={'thin.png': png_bytes(1, 60000)})
    (d/'captions.txt').write_text((d/'captions.txt').read_text() + 'thin.png,a very thin grey strip\n')


def truncated_jpeg(w:Path):
    from PIL import Image
    import numpy as np
    buf = io.BytesIO(); Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(buf, 'JPEG', quality=95)
    d = data_copy(w, 'truncated', extra={'cut.jpg': buf.getvalue()[:len(buf.getvalue()) * 2 // 3]})  # its header whole, its pixels cut short
    (d/'captions.txt').write_text((d/'captions.txt').read_text() + 'cut.jpg,a red square cut short\n')


def newline_caption(w:Path):
    from clip_nb.data import write_captions
    d = data_copy(w, 'newline')
    rows = [tuple(l.split(',', 1)) for l in caption_lines(w)[1:]]
    write_captions(d/'captions.txt', rows[:-1] + [(rows[-1][0], 'a dog\nrunning in the park')])


def utf16_data(w:Path): data_copy(w, 'utf16', (w/'data'/'captions.txt').read_text().encode('utf-16'))
def nul_data(w:Path): data_copy(w, 'nul', (w/'data'/'captions.txt').read_text().encode('utf-16-le'))
def nested(w:Path): (w/'cases'/'nested').mkdir(); shutil.copytree(w/'data', w/'cases'/'nested'/'flickr8k')
def other_data(w:Path): data_copy(w, 'other', ('\n'.join(caption_lines(w)[:-3]) + '\n').encode())


def copy_run(w:Path, name:str='run') -> Path:
    shutil.copytree(w/'run', w/'cases'/name); return w/'cases'/name


def copy_index(w:Path, name:str) -> Path:
    shutil.copytree(w/'index', w/'cases'/name); return w/'cases'/name


def damaged_cache(w:Path):
    "Cut short the feature cache file of the world's data (the eval below must compute it again)."
    from clip_nb.data import read_pairs
    from clip_nb.train import feature_cache_key, load_run
    df = read_pairs(w/'data', verbose=False)
    key = feature_cache_key(load_run(w/'run'), list(dict.fromkeys(df.image)), df.caption.tolist())
    with open(Path(os.environ['CLIP_NB_HOME'])/'features'/key/'image.f32', 'r+b') as f: f.truncate(64)


T = ['train', '--preset', 'tiny', '--random-init', '--no-progress', '--batch-size', '8', '--epochs', '1']
DATA = ['--data', '{w}/data']

CASES = [
    # 2. --out that is not this run, or is another run
    Case('out holds a config.json of someone', 2, [*T, *DATA, '--out', '{w}/cases/cfg'], ['cases/cfg holds files that clip_nb did not write (config.json)', 'choose another'],
         lambda w: (w/'cases'/'cfg').mkdir() or (w/'cases'/'cfg'/'config.json').write_text('{"mine": true}')),
    Case('out holds a history.jsonl', 2, [*T, *DATA, '--out', '{w}/cases/hist'], ['cases/hist already holds a run (history.jsonl)', '--resume'],
         lambda w: (w/'cases'/'hist').mkdir() or (w/'cases'/'hist'/'history.jsonl').write_text('{}\n')),
    Case('out holds a best/ model', 2, [*T, *DATA, '--out', '{w}/cases/best'], ['already holds a run (best)'],
         lambda w: shutil.copytree(w/'run'/'best', w/'cases'/'best'/'best')),
    Case('out is another run', 2, [*T, *DATA, '--out', '{w}/run'], ['run already holds a run', 'continue it with --resume', '--overwrite']),
    Case('--overwrite over files clip_nb did not write', 2, [*T, *DATA, '--out', '{w}/cases/notes', '--overwrite'], ['holds files that clip_nb did not write (notes.txt)'],
         lambda w: (w/'cases'/'notes').mkdir() or (w/'cases'/'notes'/'notes.txt').write_text('mine')),
    Case('training into a zero-shot run', 2, [*T, *DATA, '--out', '{w}/cases/zs'], ['cases/zs already holds a run (best, config.json, prior.json)', '--overwrite'],
         lambda w: shutil.copytree(w/'zero_shot', w/'cases'/'zs')),
    Case('--out is a file', 2, [*T, *DATA, '--out', '{w}/cases/file.txt'], ['file.txt is a file, not a run folder'],
         lambda w: (w/'cases'/'file.txt').write_text('x')),
    Case('--resume where there is no run', 2, [*T, *DATA, '--out', '{w}/cases/none', '--resume'], ['cannot resume', 'none/last.pt does not exist', 'start without --resume']),
    # 3. a re-index interrupted between its parts
    Case('an index folder with parts of two builds', 3, ['search', '--index', '{w}/cases/mixed', '--text', 'a red circle'], ['holds parts of different builds', 'Run `clip_nb index`'], mixed_index),
    # 4. --resume with changed options or data
    Case('resume a finished run with other options', 4, ['train', *DATA, '--out', '{w}/cases/run', '--resume', '--epochs', '6', '--lr', '0.5', '--no-progress'],
         ['lr (--lr) 0.001 → 0.5', 'start a new run'], lambda w: copy_run(w)),
    Case('resume with other data', 4, ['train', '--data', '{w}/cases/other', '--out', '{w}/cases/run', '--resume', '--no-progress'],
         ['not the data the run', 'cases/run trains on'], lambda w: (other_data(w), copy_run(w))),
    Case('resume with fewer epochs than done', 4, ['train', *DATA, '--out', '{w}/cases/run', '--resume', '--epochs', '1', '--no-progress'],
         ['has done 2 epochs', 'epochs (--epochs) 1'], lambda w: copy_run(w)),
    # 5. numbers out of range
    *[Case(f'train {o} {v}', 5, [*T, *DATA, '--out', '{w}/cases/n', o, v], [says]) for o, v, says in [
        ('--batch-size', '-4', 'batch_size (--batch-size) must be an integer ≥ 2 (a contrastive batch needs other pairs as negatives), got -4'),
        ('--batch-size', '0', 'batch_size (--batch-size) must be an integer ≥ 2 (a contrastive batch needs other pairs as negatives), got 0'),
        ('--grad-accum', '0', 'grad_accum (--grad-accum) must be an integer ≥ 1, got 0'), ('--grad-accum', '-2', 'grad_accum (--grad-accum) must be an integer ≥ 1'),
        ('--lr', 'nan', 'lr (--lr) must be a finite number > 0, got nan'), ('--lr', 'inf', 'lr (--lr) must be a finite number > 0, got inf'),
        ('--epochs', '0', 'epochs (--epochs) must be an integer ≥ 1, got 0'), ('--seed', '-1', 'seed (--seed) must be an integer, 0 ≤ seed < 2**32, got -1'),
        ('--seed', '99999999999999999999', 'seed (--seed) must be an integer, 0 ≤ seed < 2**32'), ('--early-stopping', '-1', 'early_stopping (--early-stopping) must be an integer ≥ 1'),
        ('--warmup', '2', 'warmup (--warmup) must be a fraction of the steps, 0 ≤ warmup < 1, got 2.0')]],
    Case('eval --batch-size 0', 5, ['eval', '--run', '{w}/run', *DATA, '--batch-size', '0'], ['argument --batch-size: must be an integer ≥ 1, got 0'], rc=2),
    Case('index --batch-size 0', 5, ['index', '--run', '{w}/run', *DATA, '--out', '{w}/cases/ix', '--batch-size', '0'], ['argument --batch-size: must be an integer ≥ 1, got 0'], rc=2),
    Case('search --nprobe -1', 5, ['search', '--index', '{w}/index', '--text', 'a', '--nprobe', '-1'], ['argument --nprobe: must be an integer ≥ 1, got -1'], rc=2),
    Case('search -k 0', 5, ['search', '--index', '{w}/index', '--text', 'a', '-k', '0'], ['argument -k: must be an integer ≥ 1, got 0'], rc=2),
    Case('index --target-recall 1.5', 5, ['index', '--run', '{w}/run', *DATA, '--out', '{w}/cases/ix', '--target-recall', '1.5'], ['--target-recall is a recall, between 0 and 1']),
    Case('sample -n 0', 5, ['sample', '--out', '{w}/cases/s', '-n', '0'], ['argument -n: must be an integer ≥ 1, got 0'], rc=2),
    # 6. divergence
    Case('train --lr 1e9', 6, [*T, *DATA, '--out', '{w}/cases/div', '--lr', '1e9'], ['the weights diverged at epoch 1, step 1', 'learning rate is too high (lr 1e+09', 'lower it'],
         writes=['cases/div']),
    # 7. index files damaged
    Case('index.faiss with flipped bytes (same size)', 7, ['search', '--index', '{w}/cases/flip', '--text', 'a red circle'], ['flip/images/index.faiss does not match the SHA-256', 'rebuild the index', '--no-verify'],
         lambda w: corrupt(copy_index(w, 'flip')/'images'/'index.faiss', 'flip')),
    Case('meta.parquet with flipped bytes', 7, ['search', '--index', '{w}/cases/flipmeta', '--text', 'a red circle'], ['flipmeta/images/meta.parquet does not match the SHA-256'],
         lambda w: corrupt(copy_index(w, 'flipmeta')/'images'/'meta.parquet', 'flip')),
    Case('index.faiss cut short', 7, ['search', '--index', '{w}/cases/cut', '--text', 'a red circle'], ['cut/images/index.faiss is', 'damaged or was partly copied'],
         lambda w: corrupt(copy_index(w, 'cut')/'images'/'index.faiss', 'cut')),
    # 8. a caption with a line break inside quotes (the project's own writer produces them)
    Case('a caption with a newline in quotes', 8, ['eval', '--run', '{w}/run', '--data', '{w}/cases/newline', '--split', 'all'], ['all split'], newline_caption, rc=0),
    # 9. a very thin image
    Case('a 1×60000 PNG in the data', 9, [*T, '--data', '{w}/cases/thin', '--out', '{w}/cases/thinrun'], ['best epoch 1'], thin_data, rc=0, writes=['cases/thinrun']),
    # 10. a truncated JPEG met while computing features
    Case('a truncated JPEG in the data', 10, [*T, '--data', '{w}/cases/truncated', '--out', '{w}/cases/trunc'], ['skipped 1 captions of 1 unreadable images', 'cut.jpg'], truncated_jpeg, rc=0,
         writes=['cases/trunc']),
    Case('--check-images full finds it up front', 10, ['eval', '--run', '{w}/run', '--data', '{w}/cases/truncated', '--check-images', 'full', '--split', 'all'], ['skipped 1 rows: 1 bad_image'], truncated_jpeg, rc=0),
    # 11. malformed files that used to end in tracebacks
    Case('best/config.json not JSON', 11, ['eval', '--run', '{w}/cases/run', *DATA], ['cases/run/best/config.json is not valid JSON'], lambda w: corrupt(copy_run(w)/'best'/'config.json', 'junk')),
    Case('best/config.json without its config', 11, ['eval', '--run', '{w}/cases/run', *DATA], ['cases/run/best/config.json'], lambda w: corrupt(copy_run(w)/'best'/'config.json', 'empty')),
    Case('best/config.json with a config of the wrong type', 11, ['eval', '--run', '{w}/cases/run', *DATA], ['cases/run/best/config.json'],
         lambda w: (p := copy_run(w)/'best'/'config.json').write_text(json.dumps({**json.loads(p.read_text()), 'config': 5}))),
    Case('index.json not JSON', 11, ['search', '--index', '{w}/cases/junk', '--text', 'a'], ['junk/images/index.json is not valid JSON', 'rebuild the index'],
         lambda w: corrupt(copy_index(w, 'junk')/'images'/'index.json', 'junk')),
    Case('index.json without its fields', 11, ['search', '--index', '{w}/cases/emptyinfo', '--text', 'a'], ['emptyinfo/images/index.json'],
         lambda w: corrupt(copy_index(w, 'emptyinfo')/'images'/'index.json', 'empty')),
    Case('index.json with a count that is text', 11, ['search', '--index', '{w}/cases/badcount', '--text', 'a'], ['badcount/images'],
         lambda w: (p := copy_index(w, 'badcount')/'images'/'index.json').write_text(json.dumps({**json.loads(p.read_text()), 'count': 'many'}))),
    Case('last.pt of garbage', 11, ['train', *DATA, '--out', '{w}/cases/run', '--resume', '--no-progress'], ['cases/run/last.pt is not a readable clip_nb checkpoint'],
         lambda w: (copy_run(w)/'last.pt').write_bytes(b'not a checkpoint')),
    # 12. messages that named nothing, or the wrong thing
    Case('a UTF-16 caption file', 12, ['eval', '--run', '{w}/run', '--data', '{w}/cases/utf16', '--split', 'all'], ['all split'], utf16_data, rc=0),
    Case('a caption file of NUL bytes', 12, ['eval', '--run', '{w}/run', '--data', '{w}/cases/nul'], ['captions.txt holds NUL bytes', 'UTF-16 without a byte-order mark', 'iconv'], nul_data),
    Case('meta.parquet deleted', 12, ['search', '--index', '{w}/cases/nometa', '--text', 'a'], ['nometa/images/meta.parquet is missing', 'incomplete', 'rebuild it'],
         lambda w: (copy_index(w, 'nometa')/'images'/'meta.parquet').unlink()),
    Case('a feature cache file cut short', 12, ['eval', '--run', '{w}/run', *DATA, '--split', 'all'], ['the cached tower features in', 'damaged (image.f32 is 64 bytes', 'computing them again'], damaged_cache, rc=0),
    Case('data nested one folder down', 12, ['eval', '--run', '{w}/run', '--data', '{w}/cases/nested'], ['Caption files lie deeper, in', 'nested/flickr8k: pass that folder'], nested),
    Case('a data folder that does not exist', 12, ['eval', '--run', '{w}/run', '--data', '{w}/cases/nowhere'], ['cases/nowhere does not exist']),
    Case('an unknown --format', 12, ['eval', '--run', '{w}/run', *DATA, '--format', 'flickr9k'], ["unknown format 'flickr9k'"]),
    Case('search --image that does not exist', 12, ['search', '--index', '{w}/index', '--image', '{w}/cases/nothing.jpg'], ['cases/nothing.jpg does not exist']),
    Case('search --queries of blank lines', 12, ['search', '--index', '{w}/index', '--queries', '{w}/cases/q.txt'], ['q.txt holds no query'], lambda w: (w/'cases'/'q.txt').write_text('\n  \n')),
    Case('search --index of a folder that is not one', 12, ['search', '--index', '{w}/data', '--text', 'a'], ['data holds no index']),
    Case('eval --run of a folder that is not a run', 12, ['eval', '--run', '{w}/data', *DATA], ['data/best does not exist', 'train first']),
    Case('an unknown --preset', 12, [*T[:1], *DATA, '--out', '{w}/cases/p', '--preset', 'huge'], ["preset 'huge' is unknown"]),
    Case('an unknown --image-backbone', 12, [*T, *DATA, '--out', '{w}/cases/b', '--image-backbone', 'resnet9000'], ["'resnet9000' is not a torchvision model name"]),
]


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    "A sample data set, a run trained on it (tiny preset), a zero-shot run, and two builds of its index."
    w = tmp_path_factory.mktemp('world')
    os.environ['CLIP_NB_HOME'] = str(w.parent/'home')
    quiet = lambda argv: _run(argv)[0] == 0 or pytest.fail(f'setting up: {argv} failed')
    quiet(['sample', '--out', str(w/'data'), '-n', '40', '--size', '32'])
    quiet([*T[:-1], '2', '--data', str(w/'data'), '--out', str(w/'run')])
    quiet(['index', '--run', str(w/'run'), '--data', str(w/'data'), '--out', str(w/'index'), '--no-progress'])
    quiet(['index', '--run', str(w/'run'), '--data', str(w/'data'), '--out', str(w/'index2'), '--no-progress'])
    (w/'zero_shot').mkdir(); shutil.copytree(w/'run'/'best', w/'zero_shot'/'best')
    (w/'zero_shot'/'config.json').write_text('{"zero_shot": true}'); (w/'zero_shot'/'prior.json').write_text('{}')
    (w/'cases').mkdir()
    return w


def _run(argv:list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main(argv)
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()


def test_there_are_enough_cases():
    assert len(CASES) >= 40 and {c.cls for c in CASES} >= set(range(2, 13)) - {1}, (len(CASES), sorted({c.cls for c in CASES}))


@pytest.mark.parametrize('case', CASES, ids=lambda c: f'{c.cls}: {c.name}')
def test_bad_input(case, world):
    shutil.rmtree(world/'cases'); (world/'cases').mkdir()   # each case makes its own bad input from the same world
    if case.setup: case.setup(world)
    before = world_files(world, tuple(case.writes))
    rc, out, err = _run([a.replace('{w}', str(world)) for a in case.argv])
    after = world_files(world, tuple(case.writes))
    told = err if case.rc else out + err
    assert rc == case.rc, f'exit {rc}, expected {case.rc}:\n{out[-1500:]}\n{err[-1500:]}'
    assert 'Traceback' not in err, err
    for s in case.says: assert s in told, f'the message does not say {s!r}:\n{told[-2000:]}'
    if case.rc == 1:
        lines = [l for l in err.splitlines() if l.startswith('clip_nb ')]
        assert len(lines) == 1 and lines[0].startswith(f'clip_nb {case.argv[0]}: error: ') and 'unexpected' not in lines[0], err
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f'the case changed files it had no business changing: {changed[:10]}'


def test_unverified_search_answers_wrongly_on_flipped_bytes(world):
    "Why the check matters: with --no-verify the flipped index loads, and its answers differ from the intact one's."
    flipped = world/'cases'/'flip'
    if not flipped.exists(): corrupt(copy_index(world, 'flip')/'images'/'index.faiss', 'flip')
    rc, out, _ = _run(['search', '--index', str(flipped), '--text', 'a red circle', '--json', '--no-verify'])
    rc0, out0, _ = _run(['search', '--index', str(world/'index'), '--text', 'a red circle', '--json'])
    assert rc == rc0 == 0 and json.loads(out)['results'] != json.loads(out0)['results']


def test_newline_caption_reads_back_whole(world):
    from clip_nb.data import read_pairs
    if not (world/'cases'/'newline').exists(): newline_caption(world)
    df = read_pairs(world/'cases'/'newline', verbose=False)
    assert 'a dog running in the park' in set(df.caption), sorted(df.caption)[:5]


def test_thin_image_in_bounded_memory(tmp_path):
    "A 1×60000 PNG (316 bytes) through the image pipeline: at most a few hundred MB at peak (padded whole, it was 60000² pixels: 10 GB)."
    import subprocess, sys
    (tmp_path/'thin.png').write_bytes(png_bytes(1, 60000))
    probe = ("import resource, sys; from clip_nb.data import image_transform, load_image\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "for mode in ('pad', 'crop'): x = image_transform('mobilenet_v2', size=224, mode=mode)(load_image(sys.argv[1])); assert tuple(x.shape) == (3, 224, 224)\n"
             "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)")
    r = subprocess.run([sys.executable, '-c', probe, str(tmp_path/'thin.png')], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.split()[-1]) < 500, f'the transform took {r.stdout.split()[-1]} MB more at its peak'
