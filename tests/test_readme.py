"""The README runs as pasted.

Its Python blocks run in order in one fresh interpreter, its shell blocks one by one in a fresh
shell, all in one scratch folder (so the shell blocks can use what the earlier ones wrote). A
block followed by an output block (a ```text fence, or the indented block nbconvert writes for a
notebook cell's output) must print exactly that output; the only thing evened out is a time in
milliseconds (`(6.8 ms)`), which no two runs share.

A block preceded by the comment `<!-- readme-test: skip (why) -->` is not run: it needs the
internet or a GPU, or it is `make test` itself. The skipped blocks and their reasons are printed.
"""
from __future__ import annotations

import os, re, subprocess, sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SKIP = re.compile(r'<!--\s*readme-test:\s*skip\s*\((.+?)\)\s*-->')
MS = re.compile(r'\d+(\.\d+)? ms\b')


@dataclass
class Block:
    lang: str           # 'python', 'sh', 'text' or 'output' (an indented block)
    code: str
    line: int           # where it starts in README.md
    skip: str = ''      # why it is not run
    output: str|None = None  # what it must print


def blocks(text:str) -> list[Block]:
    "The fenced and indented blocks of a markdown text, each code block with the output block that follows it."
    lines, found, i, skip = text.splitlines(), [], 0, ''
    while i < len(lines):
        line = lines[i]
        if m := SKIP.search(line): skip = m.group(1)
        elif line.startswith('```'):
            lang, j = line[3:].strip().split(' ')[0] or 'text', i + 1
            while not lines[j].startswith('```'): j += 1
            found.append(Block(lang, '\n'.join(lines[i+1:j]), i + 1, skip)); skip, i = '', j
        elif line.startswith('    ') and (i == 0 or not lines[i-1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith('    ') or not lines[j].strip()): j += 1
            found.append(Block('output', '\n'.join(l[4:] for l in lines[i:j]).strip('\n'), i + 1)); i = j - 1
        elif line.strip(): skip = ''
        i += 1
    code = []
    for b in found:
        if b.lang in ('text', 'output') and code and code[-1].output is None and code[-1].lang in ('python', 'sh'): code[-1].output = b.code
        elif b.lang in ('python', 'sh', 'bash'): code.append(b)
    return code


def same(shown:str, printed:str) -> bool:
    norm = lambda s: [MS.sub('N ms', l.rstrip()) for l in s.strip('\n').splitlines()]
    return norm(shown) == norm(printed)


def env() -> dict:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", OMP_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false')


def test_blocks_are_found():
    "The parser sees what a reader sees: the quick starts, their shown outputs, the skips."
    bs = blocks((ROOT/'README.md').read_text())
    py, sh = [b for b in bs if b.lang == 'python'], [b for b in bs if b.lang in ('sh', 'bash')]
    assert len(py) >= 2 and any(b.output for b in py), 'the Python quick start and its shown output'
    assert any('clip_nb search' in b.code and b.output for b in sh), 'the command-line quick start with its shown output'
    assert any(b.skip for b in sh) and all(b.skip for b in sh if 'pip install' in b.code or 'accelerate launch' in b.code)


def test_links_are_plain_markdown():
    "No link wrapped in another link (a name already linked in nbs/index.ipynb, linked again by the docs build, showed as `[[name](…)](…)`)."
    text = (ROOT/'README.md').read_text()
    nested = [l for l in text.splitlines() if re.search(r'\[\[[^\]]*\]\([^)]*\)\]\(', l)]
    assert not nested, f'links inside links in README.md (write the plain `name` in nbs/index.ipynb: the build links it):\n' + '\n'.join(nested[:3])


def test_python_blocks_print_what_is_shown(tmp_path):
    bs = [b for b in blocks((ROOT/'README.md').read_text()) if b.lang == 'python']
    for b in bs: assert not b.skip, f'README.md:{b.line}: a Python block must run as pasted'
    marker = '@@readme-block-{}@@'
    script = '\n'.join(f'print({marker.format(k)!r}, flush=True)\n{b.code}' for k, b in enumerate(bs))
    (tmp_path/'readme.py').write_text(script)
    r = subprocess.run([sys.executable, 'readme.py'], cwd=tmp_path, capture_output=True, text=True, env=env(), timeout=600)
    assert r.returncode == 0, f'the README\'s Python fails when pasted:\n{r.stderr[-3000:]}'
    printed = re.split(r'@@readme-block-\d+@@\n', r.stdout)[1:]
    for b, out in zip(bs, printed, strict=True):
        if b.output is not None: assert same(b.output, out), f'README.md:{b.line}: shown\n{b.output}\nprinted\n{out}'
        else: assert not out.strip(), f'README.md:{b.line}: the block prints something the README does not show:\n{out}'


def test_shell_blocks_print_what_is_shown(tmp_path):
    ran = []
    for b in blocks((ROOT/'README.md').read_text()):
        if b.lang not in ('sh', 'bash'): continue
        if b.skip: print(f'README.md:{b.line}: skipped ({b.skip}): {b.code.splitlines()[0]}'); continue
        r = subprocess.run(['bash', '-e', '-o', 'pipefail', '-c', b.code], cwd=tmp_path, capture_output=True, text=True, env=env(), timeout=600)
        assert r.returncode == 0, f'README.md:{b.line}: fails when pasted (exit {r.returncode}):\n{b.code}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}'
        if b.output is not None: assert same(b.output, r.stdout), f'README.md:{b.line}: shown\n{b.output}\nprinted\n{r.stdout}'
        ran.append(b.line)
    assert ran, 'no shell block ran'
