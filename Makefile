# One entry point for every routine task. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 9201
DATA ?= .data

.PHONY: setup run test test-fast lint proto bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

run: setup
	$(PY) -m connector serve --local --host $(HOST) --port $(PORT) --data $(DATA)

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not e2e"

lint: setup
	$(VENV)/bin/ruff check connector emulator tests bench
	$(VENV)/bin/mypy connector emulator

# Regenerates the committed Python modules from the .proto sources.
proto: setup
	$(PY) -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto \
		proto/prompb/types.proto proto/prompb/remote.proto proto/prompb/write/v2/types.proto

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
