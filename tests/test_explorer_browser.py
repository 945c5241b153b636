"""The retrieval explorer (`clip_nb.viz.Explorer`) in a real browser.

JupyterLab is started on 127.0.0.1 with a token and a free port, on a notebook that trains a tiny
model on the synthetic set, indexes it and displays the explorer; headless Debian Chromium, driven
by Playwright, runs all cells, checks that no picked-image slot shows before a pick, types a query
and presses Enter, waits for the result images, checks their count, their captions and the status
line, uploads an image, picks another, checks their captions, and saves a screenshot (into the
test's temporary folder). The server is stopped by its PID whatever happens.

Chromium comes from Debian (`tools/ensure_browser.sh` installs it when missing); Playwright only
drives it (never `playwright install`). The test skips only when Chromium cannot be found or
installed.

The committed screenshot `nbs/images/explorer.png` (the README's) is made by the same code on
tutorial 01 — the Tux Paint sample and the run trained there — run whole in JupyterLab:

    python tests/test_explorer_browser.py --query "a red apple" --pick animals/birds/hen.jpg --shot nbs/images/explorer.png
"""
from __future__ import annotations

import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
K = 6
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']


def chromium() -> tuple[str|None, str]:
    "The Chromium executable, installed with tools/ensure_browser.sh when missing, or None and why not."
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found: return found, ''
    try: r = subprocess.run([shutil.which('bash') or '/bin/bash', str(ROOT/'tools'/'ensure_browser.sh')], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e: return None, f'{type(e).__name__}: {e}'
    return shutil.which('chromium'), (r.stderr.strip().splitlines() or ['no message'])[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def notebook(setup:str, k:int=K) -> dict:
    "A notebook that builds a `Retriever` with `setup` (which defines `index_dir` and `run_dir`) and shows the explorer."
    cells = ["import os\nos.environ['OMP_NUM_THREADS'] = '1'\nfrom pathlib import Path\nfrom clip_nb.index import Retriever, build_run_index\nfrom clip_nb.viz import Explorer",
             setup,
             f"retriever = Retriever.from_index(index_dir, run_dir=run_dir)\nexplorer = Explorer(retriever, k={k})\nexplorer"]
    return {'cells': [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [], 'source': s}
                      for i, s in enumerate(cells)],
            'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
            'nbformat': 4, 'nbformat_minor': 5}


def synth_setup(work:Path) -> str:
    "Notebook code: a tiny model trained for a few seconds on 48 synthetic images, and its index."
    return (f"from clip_nb.core import seed_everything\nfrom clip_nb.data import read_pairs, synth_pairs\n"
            f"from clip_nb.encoders import DualEncoder\nfrom clip_nb.train import TrainConfig, fit\n"
            f"work = Path({str(work)!r})\ndf = read_pairs(synth_pairs(48, root=work/'synth'), verbose=False)\nseed_everything(0)\n"
            f"fit(DualEncoder.from_preset('tiny', pretrained=False), df, TrainConfig(epochs=6, batch_size=16, lr=3e-3, seed=0), run_dir=work/'run', progress=False)\n"
            f"run_dir = work/'run'\nindex_dir = build_run_index(run_dir, df, work/'index', progress=False)")


def start_lab(nbdir:Path, port:int, token:str, env:dict) -> subprocess.Popen:
    "JupyterLab on 127.0.0.1:`port` with `token`, `window.jupyterapp` exposed, all its state in `nbdir`'s sibling folders."
    cmd = [sys.executable, '-m', 'jupyterlab', '--ip=127.0.0.1', f'--port={port}', '--port-retries=0', f'--IdentityProvider.token={token}',
           '--ServerApp.open_browser=False', '--LabApp.expose_app_in_browser=True', f'--ServerApp.root_dir={nbdir}',
           '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate', '--LabApp.news_url=None']
    if hasattr(os, 'geteuid') and os.geteuid() == 0: cmd.append('--allow-root')
    with open(nbdir.parent/'lab.log', 'w') as log:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(proc:subprocess.Popen, port:int, token:str, log:Path, timeout:float=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None: raise RuntimeError(f'JupyterLab exited ({proc.returncode}):\n{log.read_text()[-3000:]}')
        try:
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/api/status?token={token}', timeout=2) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.3)
    raise TimeoutError(f'JupyterLab did not answer within {timeout} s:\n{log.read_text()[-3000:]}')


def stop(proc:subprocess.Popen):
    "Stop the server by its PID (SIGTERM: it shuts its kernels down), then SIGKILL its process group if it lingers."
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try: proc.wait(15)
        except subprocess.TimeoutExpired: pass
    try: os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError): pass
    proc.wait(5)


def _errors(page) -> str:
    "The text of error outputs in the notebook, for a failure message."
    return '\n'.join(page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts())[-3000:]


def drive(url:str, browser_path:str, shot:Path, query:str, pick:int|str, k:int=K, upload:Path|None=None, timeout_s:float=150) -> dict:
    "Open the notebook, run all cells, query, upload an image (if given), pick one (a row of the picker, or its label); returns what the page showed."
    try: from playwright.sync_api import sync_playwright
    except ImportError as e: raise ImportError('the browser test needs Playwright: pip install playwright (it drives Debian\'s chromium; '
                                               'never run `playwright install`)') from e
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': 1000, 'height': 860})
            page.goto(url, wait_until='domcontentloaded', timeout=60_000)
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')"
                                   " && window.jupyterapp.shell.currentWidget && window.jupyterapp.shell.currentWidget.sessionContext"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel", timeout=60_000)
            # run all without awaiting the command (awaiting it hangs): TOOLCHAIN.md
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            try: page.wait_for_selector('.clip-nb-explorer', timeout=timeout_s * 1000)
            except Exception as e: raise AssertionError(f'the explorer never appeared; notebook errors:\n{_errors(page)}') from e

            page.evaluate("() => { const s = window.jupyterapp.shell; s.collapseLeft(); s.collapseRight(); }")  # room for the explorer
            def status_after(action, pattern:str) -> str:
                "Do `action`, then wait for the status line to change and match `pattern`."
                before = page.inner_text('.clip-nb-status'); action()
                page.wait_for_function("([b, p]) => { const t = document.querySelector('.clip-nb-status').innerText; return t !== b && new RegExp(p).test(t); }",
                                       arg=[before, pattern], timeout=30_000)
                return page.inner_text('.clip-nb-status')

            # before any pick, the picked-image slot is hidden (no broken-image icon)
            seen['picked_shown_before'] = page.evaluate("() => { const i = document.querySelector('.clip-nb-picked'); return !!i && i.offsetParent !== null; }")
            page.fill('.clip-nb-query input', query)   # type the query and press Enter, as a user does
            seen['status'] = status_after(lambda: page.press('.clip-nb-query input', 'Enter'), 'images in')
            seen['images'] = page.locator('.clip-nb-results .clip-nb-card img').count()
            seen['card_texts'] = page.locator('.clip-nb-results .clip-nb-card-text').all_inner_texts()
            page.wait_for_function("() => [...document.querySelectorAll('.clip-nb-results img')].every(i => i.complete)", timeout=10_000)
            seen['loaded'] = page.evaluate("() => [...document.querySelectorAll('.clip-nb-results img')].filter(i => i.naturalWidth > 0).length")
            if upload is not None:  # the FileUpload button opens a file chooser (its <input type=file> is not in the page)
                def send():
                    with page.expect_file_chooser(timeout=10_000) as chooser: page.click('.clip-nb-upload')
                    chooser.value.set_files(str(upload))
                seen['upload_status'] = status_after(send, 'captions for the uploaded image')
            choose = {'label': pick} if isinstance(pick, str) else {'index': pick}
            seen['pick_status'] = status_after(lambda: page.select_option('.clip-nb-picker select', **choose), 'captions for')
            seen['captions'] = page.locator('.clip-nb-captions li').all_inner_texts()
            page.wait_for_function("() => { const i = document.querySelector('.clip-nb-picked'); return i && i.complete && i.naturalWidth > 0; }", timeout=10_000)

            page.locator('.clip-nb-explorer').scroll_into_view_if_needed()
            page.evaluate("() => document.querySelector('.clip-nb-explorer').scrollIntoView({block: 'end'})")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.locator('.jp-CodeCell', has=page.locator('.clip-nb-explorer')).screenshot(path=str(shot)) # the cell: its code and the explorer
        finally: browser.close()
    return seen


def explorer_in_lab(nb:str|Path, work:Path, shot:Path, query:str, pick:int|str=3, k:int=K, upload:Path|None=None, timeout_s:float=150) -> dict:
    "Everything: JupyterLab on a notebook (a copy of the file `nb`, or one generated around the setup code `nb`), the browser session, the server stopped."
    browser_path, why = chromium()
    if browser_path is None: pytest.skip(f'Chromium is not installed and tools/ensure_browser.sh could not install it: {why}')
    nbdir = work/'nbs'; nbdir.mkdir(parents=True)
    (nbdir/'explorer.ipynb').write_text(Path(nb).read_text() if isinstance(nb, Path) else json.dumps(notebook(nb, k)))
    cfg = work/'jupyter'
    (cfg/'config'/'labconfig').mkdir(parents=True)  # no news pop-up in the screenshot
    (cfg/'config'/'labconfig'/'page_config.json').write_text(json.dumps({'disabledExtensions': {'@jupyterlab/apputils-extension:announcements': True}}))
    env = dict(os.environ, OMP_NUM_THREADS='1', TOKENIZERS_PARALLELISM='false', CLIP_NB_HOME=os.environ.get('CLIP_NB_HOME', str(work/'home')),
               JUPYTER_CONFIG_DIR=str(cfg/'config'), JUPYTER_RUNTIME_DIR=str(cfg/'runtime'), JUPYTER_DATA_DIR=str(cfg/'data'),
               JUPYTERLAB_SETTINGS_DIR=str(cfg/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(cfg/'workspaces'))
    port, token = free_port(), os.urandom(12).hex()
    proc = start_lab(nbdir, port, token, env)
    try:
        wait_ready(proc, port, token, work/'lab.log')
        return drive(f'http://127.0.0.1:{port}/lab/tree/explorer.ipynb?token={token}', browser_path, shot, query, pick, k, upload, timeout_s)
    finally: stop(proc)


def test_explorer_in_jupyterlab(tmp_path):
    t0 = time.time()
    shot = tmp_path/'explorer.png'
    upload = tmp_path/'upload.png'
    from PIL import Image, ImageDraw
    im = Image.new('RGB', (96, 96), 'white'); ImageDraw.Draw(im).ellipse((20, 20, 76, 76), fill='red'); im.save(upload)
    seen = explorer_in_lab(synth_setup(tmp_path/'work'), tmp_path, shot, query='a large red circle on a blue background', upload=upload)
    assert not seen['picked_shown_before'], 'the picked-image slot shows (a broken image) before any pick'
    assert seen['images'] == K and seen['loaded'] == K, seen
    assert re.fullmatch(rf'{K} images in \d+\.\d{{3}} s', seen['status']), seen['status']   # Enter in the query box searched
    assert len(seen['card_texts']) == K and all(re.search(r'\b(circle|square|triangle|diamond)\b', t) for t in seen['card_texts']), seen['card_texts']
    assert re.fullmatch(rf'{K} captions for the uploaded image in \d+\.\d{{3}} s', seen['upload_status']), seen['upload_status']
    assert len(seen['captions']) == K and all(re.match(r'\d\.\d{3}\b', c) for c in seen['captions']), seen['captions']
    assert re.fullmatch(rf'{K} captions for synth_\d{{5}}\.png in \d+\.\d{{3}} s · ground truth (at rank \d+|not in the top {K})', seen['pick_status']), seen['pick_status']
    assert shot.stat().st_size > 10_000
    print(f'browser test: {time.time() - t0:.0f} s')


def main():
    "Screenshot the explorer of tutorial 01 (the Tux Paint sample, the trained run) into --shot, for the README."
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument('--notebook', default=str(ROOT/'nbs'/'tutorials'/'01_offline_sample.ipynb'), help='the notebook that shows the explorer')
    ap.add_argument('--shot', required=True, help='the PNG to write')
    ap.add_argument('--query', default='a red apple')
    ap.add_argument('--pick', default='3', help='a row of the picker, or an image label')
    ap.add_argument('--k', type=int, default=6)
    ap.add_argument('--width', type=int, default=1000, help='the PNG width in pixels at most')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        raw = Path(work)/'raw.png'
        print(explorer_in_lab(Path(a.notebook), Path(work), raw, a.query, int(a.pick) if a.pick.isdigit() else a.pick, a.k, timeout_s=900))
        from PIL import Image
        im = Image.open(raw).convert('RGB')
        if im.width > a.width: im = im.resize((a.width, round(im.height * a.width / im.width)), Image.LANCZOS)
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(a.shot, optimize=True)
    print(a.shot, Path(a.shot).stat().st_size, 'bytes')


if __name__ == '__main__': main()
