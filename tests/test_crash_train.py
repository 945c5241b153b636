"""kill -9 anywhere in a training run loses nothing: killed at every named point, `clip_nb train --resume` ends
with the same weights as a run that was never killed. (See `tests/crashing.py` for how the kills are made.)"""
from crashing import *


def test_training_killed_anywhere_resumes_to_the_same_weights(data):
    ref, log = data/'ref', data/'ref-points.json'
    assert forked([*TRAIN, '--data', str(data/'data'), '--out', str(ref)], {'CLIP_NB_KILL_AT': '(record)'}, log) == 0
    passed = json.loads(log.read_text()); want = weights(ref)
    points = choose(passed)
    assert len(points) >= 20 and {'folder best: written#1', 'write last.pt#1', 'write last.pt#3'} <= set(points), (points, passed)
    assert any(p.startswith('folder best: old set aside') for p in points), 'no second save of best/ to kill between its renames'
    # the feature cache too: killed while it is built (another cache folder, so that it is built again)
    points += ['write progress.json#1', 'write progress.json#2']
    done = []
    for i, point in enumerate(points):
        run, env = data/f'run{i}', {'CLIP_NB_KILL_AT': point}
        if point.startswith(('write progress', 'write meta.json')): env['CLIP_NB_HOME'] = str(data/f'home{i}') # the cache is built again
        assert forked([*TRAIN, '--data', str(data/'data'), '--out', str(run)], env) == -signal.SIGKILL, f'not killed at {point}'
        rc = forked([*TRAIN, '--data', str(data/'data'), '--out', str(run), '--resume'], {k: v for k, v in env.items() if k != 'CLIP_NB_KILL_AT'})
        assert rc == 0, f'killed at {point}: the resume failed ({rc})'
        assert same(weights(run), want), f'killed at {point}: the resumed run differs from the uninterrupted one'
        done.append(point); shutil.rmtree(run)
    print(f'{len(done)} kill points, each resumed to the same weights: {done}')
