# tracewatch: every target installs what it needs first, so a fresh clone needs only Python 3.11+ and make.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen --no-sync
# What the tests, the demo and `make up` need besides the library: the dev tools and the demo's local model. A
# production install takes only the library (`uv sync --frozen --no-dev`).
GROUPS := --group dev --group model
# Quiet installs by default; `make V=1 <target>` shows the install command and every package uv installs.
V ?=
Q := $(if $(V),,@)
UV_QUIET := $(if $(V),,--quiet)

export PREFECT_HOME ?= $(CURDIR)/.tracewatch/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_EXTRA_LOGGERS := tracewatch
export LITELLM_LOCAL_MODEL_COST_MAP := True
export GX_ANALYTICS_ENABLED := False
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
export PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW := ignore

.PHONY: install demo test unit lint typecheck bench reliability clean up down status chromium

install: .venv/.installed
	@mkdir -p "$(PREFECT_HOME)"

.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	@echo "installing the library, its dev tools and the demo's local model into .venv (make V=1 lists every" \
		"package; the first install builds llama-cpp-python from source, about 12 min on 2 cores)"
	@# Offline first: with uv's cache warm this reuses the llama-cpp-python wheel built before (online, uv may
	@# revalidate the sdist, get a new cache revision and build it again); a cold cache falls back to online.
	$(Q)$(UV) sync --frozen --offline --quiet $(GROUPS) 2>/dev/null || $(UV) sync --frozen $(UV_QUIET) $(GROUPS)
	@touch $@

demo: install
	$(RUN) python -m flows.demo

# The whole system under Prefect, in the background on loopback: server, work pool + worker, deployments,
# local S3 server, local model, demo traces. `make up UP_ARGS="--no-model --timezone Europe/Paris"`.
up: install
	$(RUN) python -m devtools.stack up $(UP_ARGS)

# Says "not running" (exit 0) when nothing runs, without installing anything first, as `down` does.
status:
	@if [ -f .tracewatch/stack/state.json ]; then $(RUN) python -m devtools.stack status; \
	else echo "the tracewatch stack is not running; start it with \`make up\`"; fi

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
	$(RUN) pytest --durations=30

unit: install
	$(RUN) pytest tests/unit

bench: install
	$(RUN) python -m bench.run

# The kill -9 sweep at all its points, the full-size fault storm (10,000 items x 2 configs) and the
# reliability figures table
# (bench/results/reliability.md, the README's summary; rows: bench/reliability/rows.json).
reliability: install
	TRACEWATCH_RELIABILITY_FULL=1 $(RUN) pytest -q tests/reliability/test_faults_kill_points.py \
		tests/reliability/test_faults_store_restarts.py  # every kill point and store restart point
	$(RUN) python -m bench.reliability

clean: down
	rm -rf .tracewatch .pytest_cache .mypy_cache .ruff_cache
