# mmx3d: two commands on a fresh machine, `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mmx3d-setup

.PHONY: setup demo test test-fast lint docs docs-check clean

setup: $(STAMP)

$(STAMP): requirements/*.txt setup.py tools/setup_env.sh
	bash tools/setup_env.sh
	@touch $(STAMP)

demo: setup
	bash tools/demo.sh

lint: setup
	$(PY) -m ruff check mmx3d tools tests configs

# everything, the end-to-end runs (marked `slow`) included
test: setup lint
	$(PY) -m pytest tests -q

# without the end-to-end runs: `pytest -m "not slow"`
test-fast: setup lint
	$(PY) -m pytest tests -q -m "not slow"

docs: setup
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

# open the built site in headless Chromium (Debian's `chromium` package)
docs-check: docs
	$(PY) tools/docs/check_site.py

clean:
	rm -rf docs/_build work_dirs build *.egg-info
