# mmx3d: two commands on a fresh machine, `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mmx3d-setup
NPROC  ?= 2

.PHONY: setup demo test lint docs docs-check clean

setup: $(STAMP)

$(STAMP): requirements/*.txt setup.py tools/setup_env.sh
	bash tools/setup_env.sh
	@touch $(STAMP)

demo: setup
	bash tools/demo.sh

lint: setup
	$(PY) -m ruff check mmx3d tools tests configs

test: setup lint
	$(PY) -m pytest tests -q

docs: setup
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

# open the built site in headless Chromium (Debian's `chromium` package)
docs-check: docs
	$(PY) tools/docs/check_site.py

clean:
	rm -rf docs/_build work_dirs build *.egg-info
