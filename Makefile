# tracewatch: every target installs what it needs first, so a fresh clone needs only Python 3.11+ and make.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen --no-sync

export PREFECT_HOME ?= $(CURDIR)/.tracewatch/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_EXTRA_LOGGERS := tracewatch
export LITELLM_LOCAL_MODEL_COST_MAP := True
export GX_ANALYTICS_ENABLED := False
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
export PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW := ignore

.PHONY: install demo test unit lint typecheck bench clean up down status chromium

install: .venv/.installed
	@mkdir -p "$(PREFECT_HOME)"

.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen
	@touch $@

demo: install
	$(RUN) python -m flows.demo

# The whole system under Prefect, in the background on loopback: server, work pool + worker, deployments,
# local S3 server, local model, demo traces. `make up UP_ARGS="--no-model --timezone Europe/Paris"`.
up: install
	$(RUN) python -m devtools.stack up $(UP_ARGS)

status: install
	$(RUN) python -m devtools.stack status

# Safe to call twice, and without an installed venv when nothing runs.
down:
	@if [ -f .tracewatch/stack/state.json ]; then $(RUN) python -m devtools.stack down; \
	else echo "the stack was not running"; fi

lint: install
	$(RUN) ruff check src flows devtools tests bench
	$(RUN) ruff format --check src flows devtools tests bench
	$(RUN) lint-imports  # the layers of docs/architecture.md, and no import cycles

typecheck: install
	$(RUN) mypy

# The browser test needs chromium (Debian package, installed once).
chromium:
	@bash .ci/install-chromium

test: lint typecheck chromium
	$(RUN) pytest

unit: install
	$(RUN) pytest tests/unit

bench: install
	$(RUN) python -m bench.run

clean: down
	rm -rf .tracewatch .pytest_cache .mypy_cache .ruff_cache
