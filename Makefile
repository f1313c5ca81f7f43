# Orders platform. `make help` lists the targets; `svc=auth|orders|processor` (or a folder name)
# narrows a target to one service.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# where infra/native/install.sh may put uv (a Debian python installs it with --user)
export PATH := $(HOME)/.local/bin:$(PATH)
UV ?= uv
PY := $(UV) run --frozen python
# the native stack's command line, a package run as a folder (infra/native/stack/cli.py)
STACK := $(PY) $(CURDIR)/infra/native/stack
# Runs a command with .env.example, then .env, then the environment: what the stack's processes see.
WITH_ENV := $(STACK) exec
# docker compose with the engine and images that docker-engine / docker-images chose
COMPOSE := bash $(CURDIR)/infra/docker/compose.sh
# how long `make up` waits for every container to be healthy
WAIT_TIMEOUT ?= 600

ALL_SVCS := auth-service orders-service order-processor
svc_dir = $(strip $(if $(filter auth auth-service,$(1)),auth-service,$(if $(filter orders orders-service,$(1)),orders-service,$(if $(filter processor order-processor,$(1)),order-processor,$(error unknown svc '$(1)': use auth, orders or processor)))))
SVCS := $(if $(svc),$(call svc_dir,$(svc)),$(ALL_SVCS))
# `make run` ports: the stack's own (stop its copy first: make dev-stop p=orders) unless port=...
RUN_PORT_auth-service := 8001
RUN_PORT_orders-service := 8002
RUN_PORT_order-processor := 8003
# The topology of `make dev-up` / `make chaos`: brokers=1|3, replicas=1|2 (stack_control.topology)
TOPOLOGY := $(if $(brokers),STACK_BROKERS=$(brokers)) $(if $(replicas),STACK_REPLICAS=$(replicas))
# Test folders, each its own pytest run (every member has a `tests` package of its own).
# unit: nothing running needed (the libs' and infra/native's tests, each service's tests/unit);
# member-tests: every member's suites, integration included, against the running stack.
NO_STACK_DIRS := $(wildcard libs/*/tests) infra/native/tests
UNIT_DIRS := $(if $(svc),services/$(SVCS)/tests/unit,$(NO_STACK_DIRS) $(foreach s,$(ALL_SVCS),services/$(s)/tests/unit))
MEMBER_DIRS := $(if $(svc),services/$(SVCS)/tests,$(NO_STACK_DIRS) $(foreach s,$(ALL_SVCS),services/$(s)/tests))

.PHONY: help install up down logs dev-up dev-down dev-status dev-stop dev-start dev-logs dev-failed \
        run test unit member-tests e2e chaos lint fmt migrate revision bench dev-kill docker-engine docker-images \
        test-compose test-cluster jwt-key

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## install what the native stack needs (Debian packages, Kafka jars, uv, the venv)
	bash infra/native/install.sh

# ---- Docker compose ----------------------------------------------------------------------
docker-engine: ## make sure a Docker engine answers (starts a local one where none does)
	bash infra/docker/engine.sh

docker-images: docker-engine ## official base images, or local stand-ins where none can be pulled
	bash infra/docker/images.sh

up: docker-images ## docker compose up --build, detached, until every container is healthy
	$(COMPOSE) up --build --detach --wait --wait-timeout $(WAIT_TIMEOUT)

down: ## docker compose down (the volumes stay; `make down v=1` removes them too)
	$(COMPOSE) down --remove-orphans $(if $(v),--volumes)

jwt-key: ## a signing key for docker-compose.prod.yml's secret: .secrets/auth-jwt.pem
	bash infra/docker/jwt-key.sh

logs: ## docker compose logs -f [svc=...]
	$(COMPOSE) logs -f $(if $(svc),$(svc))

# ---- native stack (no Docker engine needed) --------------------------------------------------
dev-up: install ## start the native stack and wait until every service is ready [brokers=3] [replicas=2]
	$(TOPOLOGY) $(STACK) up

dev-down: ## stop the native stack; no process is left running
	$(STACK) down

dev-status: ## one line per process of the native stack
	$(STACK) status

dev-stop: ## stop one process: make dev-stop p=redis
	$(STACK) stop $(p)

dev-start: ## start one process again: make dev-start p=redis
	$(STACK) start $(p)

dev-kill: ## SIGKILL one process, as a crash would (the supervisor restarts it): make dev-kill p=worker
	$(STACK) kill $(p)

dev-failed: ## orders whose processing failed for good (after every retry) [limit=N]
	cd services/order-processor && $(WITH_ENV) $(UV) run --frozen python -m order_processor.failed $(if $(limit),--limit $(limit))

dev-logs: ## tail a process's log: make dev-logs p=orders
	$(STACK) logs $(p)

# ---- per service ---------------------------------------------------------------------------
run: ## one service's API in the foreground with reload: make run svc=orders [port=9002]
	@test -n "$(svc)" || { echo "make run needs svc=auth|orders|processor"; exit 2; }
	cd services/$(SVCS) && $(WITH_ENV) $(UV) run --frozen uvicorn $(subst -,_,$(SVCS)).main:app \
	  --reload --no-proxy-headers --host 127.0.0.1 --port $(or $(port),$(RUN_PORT_$(SVCS)))

migrate: ## alembic upgrade head [svc=...]
	@for s in $(SVCS); do echo "migrate $$s"; (cd services/$$s && $(WITH_ENV) $(UV) run --frozen alembic upgrade head) || exit 1; done

revision: ## new migration: make revision svc=orders m="add column"
	@test -n "$(svc)" -a -n "$(m)" || { echo 'make revision needs svc=... m="..."'; exit 2; }
	cd services/$(SVCS) && $(UV) run --frozen alembic revision --autogenerate -m "$(m)"

# ---- quality -------------------------------------------------------------------------------
lint: ## ruff check, ruff format --check, mypy, import rules, compose schema, hadolint
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(PY) infra/lint/import_rules.py
	$(UV) run --frozen mypy libs/*/src services/*/src infra/native/stack infra/lint tests-e2e benchmarks
	@for d in libs/*/tests services/*/tests infra/native/tests; do \
	  [ -d $$d ] && { (cd $$(dirname $$d) && $(UV) run --frozen mypy tests) || exit 1; }; done
	$(UV) run --frozen check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml docker-compose.prod.yml docker-compose.cluster.yml
	$(UV) run --frozen hadolint services/Dockerfile infra/docker/standins/*/Dockerfile

fmt: ## ruff format and fix
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

unit: ## the tests that need nothing running: libs, infra/native, each service's tests/unit [svc=...]
	@for d in $(UNIT_DIRS); do echo "== pytest $$d"; $(WITH_ENV) $(UV) run --frozen pytest $$d || exit 1; done

member-tests: ## every member's suites, integration included, against the running stack [svc=...]
	@for d in $(MEMBER_DIRS); do echo "== pytest $$d"; $(WITH_ENV) $(UV) run --frozen pytest $$d || exit 1; done

e2e: ## the end-to-end suite against whatever stack is up
	$(WITH_ENV) $(UV) run --frozen pytest tests-e2e

test: ## install, lint, every member's tests, then tests-e2e, on a native stack it starts and stops
	bash infra/test.sh native $(if $(svc),svc=$(svc))

test-compose: ## the same suites against the compose stack: engine, images, build, up, tests, down -v [brokers=3 replicas=2]
	$(TOPOLOGY) bash infra/test.sh compose $(if $(svc),svc=$(svc))

test-cluster: ## tests-e2e on a native stack of three brokers and two replicas, the cluster chaos run included
	bash infra/test.sh cluster

chaos: ## orders from careful clients while servers fail on a schedule; counts lost and duplicated [orders=N] [brokers=3]
	cd tests-e2e && $(TOPOLOGY) $(WITH_ENV) $(UV) run --frozen python -m tests.chaos $(if $(orders),--orders $(orders))

bench: ## throughput and latency figures against references [quick=1] [only=throughput,latency,pipeline,relay,processing]
	$(WITH_ENV) $(UV) run --frozen python benchmarks/run.py $(if $(quick),--quick) $(if $(only),--only $(only))
