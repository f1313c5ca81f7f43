#!/usr/bin/env bash
# Installs what the native stack needs; safe to run again (each step is skipped when done).
#   Debian packages: PostgreSQL, Redis, nginx, wrk (for make bench), a JDK and Maven (when missing)
#   Apache Kafka's jars from Maven Central into $KAFKA_HOME
#   uv, and the workspace's virtualenv from uv.lock
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# One place for the version: the POM that fetches the jars.
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/infra/kafka/pom.xml")
KAFKA_HOME="${KAFKA_HOME:-$HOME/.cache/orders-stack/kafka-$KAFKA_VERSION}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

say() { printf 'install: %s\n' "$*"; }

need_pkgs=()
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx-light)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql postgresql-contrib)
command -v java >/dev/null || need_pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_pkgs+=(maven)
command -v wrk >/dev/null || need_pkgs+=(wrk)
# headless browser for the Swagger UI test in tests-e2e
command -v chromium >/dev/null || need_pkgs+=(chromium)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    say "apt-get install ${need_pkgs[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${need_pkgs[@]}" >/dev/null
fi
# Debian's packages may start their own servers on the default ports: the stack runs its own.
for svc in redis-server nginx postgresql; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
done

if [ ! -f "$KAFKA_HOME/libs/kafka_2.13-$KAFKA_VERSION.jar" ] ||
    [ ! -f "$KAFKA_HOME/libs/kafka-tools-$KAFKA_VERSION.jar" ]; then
    say "fetching Apache Kafka $KAFKA_VERSION jars with Maven into $KAFKA_HOME"
    mvn -B -q -f "$ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs.partial"
    rm -rf "$KAFKA_HOME/libs"
    mv "$KAFKA_HOME/libs.partial" "$KAFKA_HOME/libs"
fi

if ! command -v uv >/dev/null; then
    say "installing uv from PyPI"
    # A pip of its own (pyenv, venv) first; a Debian python refuses system-wide installs
    # (PEP 668), so then into ~/.local, or through pipx.
    python3 -m pip install --quiet uv 2>/dev/null ||
        python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null || {
        command -v pipx >/dev/null || {
            $SUDO apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq pipx >/dev/null
        }
        pipx install uv
    }
    command -v pyenv >/dev/null && pyenv rehash || true
    export PATH="$HOME/.local/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
    hash -r
fi

say "uv sync"
cd "$ROOT"
uv sync --all-packages --frozen --quiet
say "done"
