# sandchat — `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEB := services/web
CLAUDE_CLI := services/worker/claude-cli
WORKERS ?= 1
GATEWAYS ?= 1
# pytest processes for `make test`: the tests mostly wait on services, so more than the cores pay off.
TEST_PROCESSES ?= 4

.PHONY: help
help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Python deps come from the one hash-pinned lock; the workspace members are installed editable on top.
$(VENV)/.installed: requirements.lock $(BIN)/python shared/pyproject.toml services/*/pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		-e shared -e services/api -e services/worker -e services/gateway -e services/cli -e services/sandbox -e services/dev
	touch $@

# The web UI, built into static files that the API serves.
$(WEB)/dist/index.html: $(WEB)/package-lock.json $(shell find $(WEB)/src $(WEB)/index.html -type f 2>/dev/null)
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error && npm run build
	touch $@

# The real Claude Code CLI (pinned), used by the `local` runner and the real-CLI tests.
$(CLAUDE_CLI)/node_modules/.installed: $(CLAUDE_CLI)/package-lock.json
	cd $(CLAUDE_CLI) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: install
install: $(VENV)/.installed $(WEB)/dist/index.html $(CLAUDE_CLI)/node_modules/.installed ## .venv with all Python deps + the built web UI + the pinned Claude CLI (idempotent)

.PHONY: test
test: install ## Install what is needed, then run every test (non-zero on any failure)
	cd $(WEB) && npm run --silent test
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile

.PHONY: lint
lint: install ## ruff + mypy (strict) + the web UI's type check + dependency audit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd $(WEB) && npm run --silent typecheck
	$(BIN)/python -m tests.security.dependency_audit

.PHONY: mutation-web
mutation-web: $(WEB)/dist/index.html ## Mutation run (StrykerJS) over the web UI's chat state; not part of `make test` (about 17 min)
	cd $(WEB) && npx stryker run

.PHONY: protocol
protocol: $(VENV)/.installed ## Regenerate the web UI's protocol types from shared/src/sandchat/wire.py
	$(BIN)/python -m sandchat.protocol_ts > $(WEB)/src/chat/protocol.generated.ts.tmp
	mv $(WEB)/src/chat/protocol.generated.ts.tmp $(WEB)/src/chat/protocol.generated.ts

.PHONY: soak
soak: install ## 10 minutes of 50 chats at a time: nothing lost, memory flat (SOAK_MINUTES=2 for less)
	$(BIN)/python -m tests.reliability.soak

.PHONY: migrate
migrate: $(VENV)/.installed ## Upgrade the database (DATABASE_URL) to the latest schema
	$(BIN)/alembic upgrade head

.PHONY: dev
dev: install ## The whole stack natively (no Docker): migrate, then api + gateway + worker; Ctrl-C stops all
	$(BIN)/sandchat-dev --workers $(WORKERS) --gateways $(GATEWAYS)

.PHONY: bench
bench: install ## Run the benchmarks in bench/ (QUICK=1 for a one-minute run)
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

# mutmut runs from shared/ (so the mutated modules are named sandchat.turns.*) and mutates a copy under
# shared/mutants/src, which it puts ahead of the editable install on sys.path; the tests are linked in unchanged.
.PHONY: mutation
mutation: $(VENV)/.installed ## Mutation run (mutmut) over the turn store, reaper, beginning and ending: slow, not in `make test`
	mkdir -p shared/mutants
	ln -sfn ../../tests shared/mutants/tests
	cd shared && nice -n 10 ../$(BIN)/mutmut run --max-children 4
	cd shared && ../$(BIN)/mutmut results

.PHONY: lock
lock: ## Re-resolve Python deps and rewrite requirements.lock (needs uv)
	uv lock
	uv export --format requirements-txt --no-emit-workspace --no-emit-project --all-groups --frozen --no-header -o requirements.lock
