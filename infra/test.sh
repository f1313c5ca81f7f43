#!/usr/bin/env bash
# `make test`: lint, then every member's tests, then tests-e2e, on a stack it starts and stops.
# Uses docker compose when a Docker engine answers, the native stack otherwise. A stack that was
# already running is used as it is and left running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

svc=""
for arg in "$@"; do case "$arg" in svc=*) svc="${arg#svc=}" ;; esac; done

say() { printf '\n== %s\n' "$*"; }
started=""
stack_down() {
    if [ "$started" = native ]; then say "stopping the native stack"; make --no-print-directory dev-down; fi
    if [ "$started" = compose ]; then say "stopping compose"; docker compose down; fi
}
trap stack_down EXIT

say "lint"
make --no-print-directory lint

if docker info >/dev/null 2>&1; then
    export STACK_CONTROLLER=compose
    say "docker compose up"
    docker compose up --build -d --wait
    started=compose
elif make --no-print-directory dev-status >/dev/null 2>&1; then
    say "using the native stack that is already running"
else
    say "starting the native stack"
    make --no-print-directory dev-up
    started=native
fi

say "member tests"
make --no-print-directory unit ${svc:+svc=$svc}

if [ -z "$svc" ]; then
    say "end-to-end tests"
    make --no-print-directory e2e
fi
