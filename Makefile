# Two set-up commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean-venv stress-ui train

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

# tests/ui 10 times while two busy-loop processes load the cores; prints passes out of 10
stress-ui: $(STAMP)
	$(VPY) scripts/stress_ui.py --runs 10 --burners 2

# the whole training recipe (stage 1, the baselines' classifier, GAN, finalize, student and its 256-grid round, lung field,
# calibrate); re-run to continue.
# DATA / VAL / NORMAL default to ../shared/data; about 5 h on a 2-core CPU (MODEL_CARD.md)
DATA ?= ../shared/data/soares-sarscov2-ct
VAL ?= ../shared/data/medseg-covid19-val
NORMAL ?= ../shared/data/lidc-idri-0001
train: $(STAMP)
	$(VPY) scripts/train_recipe.py --data $(DATA) --val $(VAL) --normal-series $(NORMAL) --out runs/recipe

bench: $(STAMP)
	for f in bench/*.py; do $(VPY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
