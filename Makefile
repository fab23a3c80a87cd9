# Two commands do all the set-up on a fresh machine:
#   make demo   the bridge on profiles/demo.yaml fed by the built-in demo source (Ctrl-C stops it)
#   make test   everything the tests need, then the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install assets bench clean

$(BIN)/facebridge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

install: $(BIN)/facebridge

assets: install
	$(BIN)/python -m bridge.runtime.assets

demo: assets
	$(BIN)/facebridge demo

test: assets
	$(BIN)/python -m pytest -q

bench: assets
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .assets .cache
