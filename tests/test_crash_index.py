"""kill -9 anywhere in an index rebuild loses nothing: `clip_nb index` over an existing index, killed at every
named point, leaves a folder that answers as one whole build or refuses as a mixed one, and a new `clip_nb index`
then gives the index of a rebuild that was never killed. (See `tests/crashing.py` for how the kills are made.)"""
from crashing import *


def test_index_rebuild_killed_anywhere_ends_whole(data):
    from clip_nb.index import IndexMismatchError, Retriever
    w = data
    for run, epochs in (('run_a', '2'), ('run_b', '3')):
        if not (w/run/'last.pt').exists(): assert forked([*TRAIN[:-2], '--epochs', epochs, '--data', str(w/'data'), '--out', str(w/run)]) == 0
    index = lambda run, out, env=None, log=None: forked(['index', '--run', str(w/run), '--data', str(w/'data'), '--out', str(out), '--no-progress'], env, log)
    assert index('run_a', w/'base') == 0                                          # the index that is there
    shutil.copytree(w/'base', w/'ref-index')                                      # rebuilt over it, never killed: the reference
    assert index('run_b', w/'ref-index', {'CLIP_NB_KILL_AT': '(record)'}, w/'index-points.json') == 0
    passed = json.loads((w/'index-points.json').read_text())
    points = [f'{name}#{n}' for name, count in passed.items() for n in range(1, count + 1)]
    assert {'folder images: written#1', 'folder images: old set aside#1', 'folder captions: old set aside#1', 'write 000000.npy#1'} <= set(points), points
    answer = lambda folder: Retriever.from_index(folder).search_text(['a red circle', 'a blue square'], k=5)
    want = [r[['rank', 'image', 'caption']].to_dict('records') for r in answer(w/'ref-index')]
    old = [r[['rank', 'image', 'caption']].to_dict('records') for r in answer(w/'base')]
    for i, point in enumerate(points):
        target = w/f'index{i}'; shutil.copytree(w/'base', target)
        assert index('run_b', target, {'CLIP_NB_KILL_AT': point}) == -signal.SIGKILL, f'not killed at {point}'
        try: now = [r[['rank', 'image', 'caption']].to_dict('records') for r in answer(target)]
        except (IndexMismatchError, FileNotFoundError, ValueError) as e: now = f'refused: {e}'
        assert now in (old, want) or (isinstance(now, str) and 'parts of different builds' in now), f'killed at {point}: {now}'
        assert index('run_b', target) == 0, f'killed at {point}: the rebuild failed'
        got = [r[['rank', 'image', 'caption']].to_dict('records') for r in answer(target)]
        assert got == want, f'killed at {point}: the rebuilt index answers differently'
        for part in ('images', 'captions'):
            assert (target/part/'index.faiss').read_bytes() == (w/'ref-index'/part/'index.faiss').read_bytes(), (point, part)
        shutil.rmtree(target)
    print(f'{len(points)} kill points of an index rebuild: {points}')
