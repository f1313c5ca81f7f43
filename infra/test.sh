#!/usr/bin/env bash
# `make test` / `make test-compose`: every member's tests, then tests-e2e, on a stack this starts
# and stops.
#   native   install (idempotent), lint, the native stack (one already running is used as it is
#            and left running)
#   compose  a Docker engine and the base images (make docker-engine / docker-images), a fresh
#            compose project (orders-platform-test) built and started, the suites with
#            STACK_CONTROLLER=compose (the fault tests stop and kill containers), then
#            `docker compose down -v`; with STACK_BROKERS=3 STACK_REPLICAS=2 (`make test-compose
#            brokers=3 replicas=2`) docker-compose.cluster.yml on top, and tests-e2e only
#   cluster  (`make test-cluster`) install, the native stack with three brokers and two
#            replicas of each service (`make dev-up brokers=3 replicas=2`) in a STACK_DIR of
#            its own (default .stack-cluster; one already running there is used when it is that
#            cluster), then tests-e2e only: the whole suite on the cluster,
#            tests/test_cluster.py's broker kill included
# Each phase's time is printed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:?usage: infra/test.sh native|compose|cluster [svc=...]}
shift
svc=""
cluster=""
for arg in "$@"; do case "$arg" in svc=*) svc="${arg#svc=}" ;; esac; done

say() { printf '\n== %s\n' "$*"; }
phases=()
phase_started=$(date +%s)
phase() { # record the time since the last phase under the name $1
    local now
    now=$(date +%s)
    phases+=("$(printf '%-10s %4d s' "$1" $((now - phase_started)))")
    phase_started=$now
}
report() {
    [ "${#phases[@]}" -eq 0 ] && return
    printf '\n== %s phases\n' "$mode"
    printf '  %s\n' "${phases[@]}"
}

compose() { bash infra/docker/compose.sh "$@"; }
started=""
finish() {
    local status=$?
    if [ "$started" = native ]; then say "stopping the native stack"; make --no-print-directory dev-down; fi
    if [ "$started" = compose ]; then
        if [ "$status" -ne 0 ]; then
            say "compose state at the failure"
            compose ps -a || true
            compose logs --no-color --tail 40 || true
        fi
        say "docker compose down -v"
        compose down --volumes --remove-orphans >/dev/null 2>&1 || true
        phase down
    fi
    report
    exit "$status"
}
trap finish EXIT

if [ "$mode" = native ]; then
    say "install"
    bash infra/native/install.sh
    phase install
    say "lint"
    make --no-print-directory lint
    phase lint
    if make --no-print-directory dev-status >/dev/null 2>&1; then
        say "using the native stack that is already running"
    else
        say "starting the native stack"
        make --no-print-directory dev-up
        started=native
    fi
    phase up
elif [ "$mode" = cluster ]; then
    # State of its own: Kafka's data in .stack is formatted for one broker after `make test`
    export STACK_DIR=${STACK_DIR:-$PWD/.stack-cluster}
    say "install"
    bash infra/native/install.sh
    phase install
    if make --no-print-directory dev-status >/dev/null 2>&1; then
        say "using the native stack that is already running"
    else
        say "starting the native stack: three brokers, two replicas"
        make --no-print-directory dev-up brokers=3 replicas=2
        started=native
    fi
    phase up
    # a running stack of one broker is not the cluster: refused here, not skipped test by test
    make --no-print-directory dev-status | grep -q '^kafka-3 ' || {
        echo "the stack in $STACK_DIR is not the cluster: STACK_DIR=$STACK_DIR make dev-down first" >&2
        exit 1
    }
    cluster=1  # no member tests: the services' own suites do not depend on the topology
elif [ "$mode" = compose ]; then
    # A project of its own: the tests never touch the volumes of a stack you run with `make up`
    # (which, holding the same ports, makes `up` below refuse clearly instead).
    export COMPOSE_PROJECT_NAME=orders-platform-test
    if [ -n "${STACK_BROKERS:-}${STACK_REPLICAS:-}" ]; then
        # `make test-compose brokers=3 replicas=2`: the cluster override, e2e only (as cluster)
        [ "${STACK_BROKERS:-}" = 3 ] && [ "${STACK_REPLICAS:-}" = 2 ] || {
            echo "the compose cluster is brokers=3 replicas=2 (docker-compose.cluster.yml)" >&2
            exit 2
        }
        export COMPOSE_FILE=docker-compose.yml:docker-compose.cluster.yml
        cluster=1
    fi
    say "docker engine"
    bash infra/docker/engine.sh
    phase engine
    say "base images"
    bash infra/docker/images.sh
    phase images
    say "docker compose build"
    compose down --volumes --remove-orphans >/dev/null 2>&1 || true  # a fresh project
    compose build --quiet
    phase build
    say "docker compose up"
    started=compose
    compose up --detach --wait --wait-timeout "${WAIT_TIMEOUT:-600}"
    phase up
    export STACK_CONTROLLER=compose
    # the tests call `docker` too (docker inspect): the same engine as compose.sh
    if [ -f .stack/docker.env ]; then set -a; . .stack/docker.env; set +a; fi
else
    echo "usage: infra/test.sh native|compose|cluster [svc=...]" >&2
    exit 2
fi

if [ -z "$cluster" ]; then
    say "member tests"
    make --no-print-directory member-tests ${svc:+svc=$svc}
    phase members
fi

if [ -z "$svc" ] || [ -n "$cluster" ]; then
    say "end-to-end tests"
    make --no-print-directory e2e
    phase e2e
fi
