# Two set-up commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean-venv

$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VPY) main.py view

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VPY) -m pytest -q tests

bench: $(STAMP)
	for f in bench/*.py; do $(VPY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
