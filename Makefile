# One entry point for every routine task. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 9201
DATA ?= .data

.PHONY: setup run test test-fast lint proto bench clean system-tools

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

run: setup
	$(PY) -m connector serve --local --host $(HOST) --port $(PORT) --data $(DATA)

test: setup sam-tools system-tools
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not e2e and not deploy"

lint: setup
	$(VENV)/bin/ruff check connector emulator tests bench captured deploy
	$(VENV)/bin/mypy connector emulator

# Regenerates the committed Python modules from the .proto sources.
proto: setup
	$(PY) -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto \
		proto/prompb/types.proto proto/prompb/remote.proto proto/prompb/write_raw.proto proto/prompb/write/v2/types.proto

# What pip cannot install: Prometheus and promtool (end-to-end and snippet tests) and Java (Timestream's
# regex engine). Installed with apt when running as root; otherwise the tests that need them fail
# naming the install command (SKIP_MISSING_TOOLS=1 skips them instead).
system-tools:
	@missing=""; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		pkill -x prometheus 2>/dev/null || true; \
	fi

bench: setup
	$(PY) -m bench --write-results

clean:
	rm -rf $(VENV) .venv-sam .aws-sam dist .pytest_cache .mypy_cache .ruff_cache

# ---- Deployment: template.yml, sam, the Lambda artifact (owner: deploy) -------------------------
# aws-sam-cli pins its own boto3/botocore, so it lives in its own venv, apart from the project's.
SAM_VERSION := 1.170.0
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_VERSION)
# Offline and quiet: no telemetry, no instance-metadata probing, a region even without a profile.
SAM_ENV := AWS_DEFAULT_REGION=$(or $(AWS_DEFAULT_REGION),$(AWS_REGION),us-east-1) SAM_CLI_TELEMETRY=0 \
	AWS_EC2_METADATA_DISABLED=true
ARTIFACT_ZIP := dist/connector-lambda-arm64.zip
EVENT ?= events/write.json

.PHONY: sam-tools validate build package publish events invoke

sam-tools: $(SAM_STAMP)

$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_VERSION)
	touch $@

# TEMPLATE: another template to lint (the tests lint variants with the monitoring switched off and on).
TEMPLATE ?= template.yml
validate: sam-tools
	$(SAM_ENV) $(SAM) validate --lint --template $(TEMPLATE)

# arm64 artifact in .aws-sam/build without Docker (deploy/Makefile, BuildMethod: makefile).
build: setup sam-tools
	$(SAM_ENV) $(SAM) build --template template.yml

package: build
	$(PY) deploy/build_artifact.py zip .aws-sam/build/ConnectorFunction $(ARTIFACT_ZIP)

# One-click launch: make publish BUCKET=name REGIONS=us-east-1,eu-west-1 [SAR=1]. Uploads to bucket
# NAME-REGION in each region (created if missing) and prints each region's Launch Stack URL. Uses the
# caller's AWS credentials (instance metadata included), so not SAM_ENV.
BUCKET ?=
REGIONS ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)
PUBLISH_BUILD ?= .aws-sam/publish
PUBLISH_OUT ?= dist/publish
publish: setup sam-tools
	@test -n "$(BUCKET)" || { echo "usage: make publish BUCKET=name REGIONS=us-east-1,eu-west-1 [SAR=1]" >&2; exit 2; }
	$(SAM_ENV) $(SAM) build --template template.yml --build-dir $(PUBLISH_BUILD)
	SAM_CLI_TELEMETRY=0 $(PY) deploy/publish.py --template $(PUBLISH_BUILD)/template.yaml --bucket $(BUCKET) \
		--regions $(REGIONS) --sam $(SAM) --out $(PUBLISH_OUT) $(if $(SAR),--sar)

# Regenerates events/ from the captured Prometheus requests in shared/samples.
events: setup
	$(PY) deploy/make_events.py

# The no-Docker `sam local invoke`: make invoke EVENT=events/read.json. Each run starts a fresh
# in-memory store: give several events (EVENT="events/write.json events/read.json") to read back a
# write, or INVOKE_DATA=DIR (e.g. .data/invoke, apart from make run's .data) to keep data between runs.
INVOKE_DATA ?=
invoke: setup
	$(PY) -m connector invoke $(EVENT) --local $(if $(INVOKE_DATA),--data $(INVOKE_DATA))
