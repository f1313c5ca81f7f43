#!/usr/bin/env bash
# `make docker-engine`: make sure a Docker engine with Compose v2 and buildx answers.
#
# Where `docker info` already answers (Docker Desktop, a system engine) this does nothing.
# Otherwise, on a Debian machine as root, it sets up a private engine:
#   - Debian's docker.io (dockerd, containerd, runc) and debootstrap (for infra/docker/images.sh);
#   - the Compose v2 and buildx CLI plugins, built with Go from the module proxy when no package
#     has them (cached, so later runs skip the build);
#   - dockerd on its own socket, without touching iptables (containers need no NAT here; builds
#     use the host's network);
# and writes DOCKER_HOST (and BUILD_NETWORK=host) to $ENGINE_ENV (default .stack/docker.env),
# which infra/docker/compose.sh reads.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${ORDERS_STACK_CACHE:-$HOME/.cache/orders-stack}"
ENGINE_ENV="${ENGINE_ENV:-$ROOT/.stack/docker.env}"
RUN_DIR=/run/orders-docker          # short: the socket path must stay under ~107 bytes
SOCK="unix://$RUN_DIR/docker.sock"
DATA_DIR="$CACHE/docker/data"        # kept between runs: images and the build cache
COMPOSE_VERSION=v2.40.3
BUILDX_VERSION=v0.29.1
PLUGINS="$HOME/.docker/cli-plugins"

say() { printf 'docker-engine: %s\n' "$*"; }

write_env() {
    mkdir -p "$(dirname "$ENGINE_ENV")"
    # This engine has no NAT: image builds reach package registries through the host's network.
    # Compose's bake path asks for the network.host entitlement at a prompt that a script cannot
    # answer; its own builder (COMPOSE_BAKE=false, still in the pinned Compose) does not ask.
    printf '%s\n' "# written by infra/docker/engine.sh" "DOCKER_HOST=$1" "BUILD_NETWORK=host" \
        "COMPOSE_BAKE=false" >"$ENGINE_ENV"
}

has_plugins() { docker compose version >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; }

# 1. An engine that already answers: the user's own (or ours, from an earlier run).
if [ -z "${DOCKER_HOST:-}" ] && docker info >/dev/null 2>&1 && has_plugins; then
    say "the engine at the default socket answers; nothing to do"
    rm -f "$ENGINE_ENV"
    exit 0
fi
if DOCKER_HOST="$SOCK" docker info >/dev/null 2>&1 && DOCKER_HOST="$SOCK" has_plugins; then
    say "the local engine at $SOCK answers"
    write_env "$SOCK"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || { say "no engine answers; starting a local one needs root"; exit 1; }

# 2. Packages.
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
    say "apt-get install ${need[*]}"
    apt-get update -qq
    # The package's init script would start a default engine; this one is started below.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi
command -v docker >/dev/null || { say "no docker client on PATH"; exit 1; }

# 3. CLI plugins: Compose v2 and buildx (compose builds through buildx).
build_plugin() { # name module version package ldflags
    local name=$1 module=$2 version=$3 package=$4 ldflags=$5
    local bin="$CACHE/docker-plugins/$name-$version"
    if [ ! -x "$bin" ]; then
        command -v go >/dev/null || { say "Go is needed to build $name"; exit 1; }
        say "building $name $version with Go (once; cached in $CACHE/docker-plugins)"
        local work
        work=$(mktemp -d)
        mkdir -p "$CACHE/docker"
        (
            cd "$work"
            go mod init "local/build-$name" 2>/dev/null
            # the tools.go pattern: the module records the command's dependencies
            printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$package" >tools.go
            go get "$module@$version" && go mod tidy &&
                CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$name" "$package"
        ) >"$CACHE/docker/build-$name.log" 2>&1 || {
            tail -n 30 "$CACHE/docker/build-$name.log" >&2
            say "building $name failed; the whole log: $CACHE/docker/build-$name.log"
            exit 1
        }
        mkdir -p "$CACHE/docker-plugins"
        mv "$work/$name" "$bin"
        rm -rf "$work"
    fi
    mkdir -p "$PLUGINS"
    install -m 0755 "$bin" "$PLUGINS/docker-$name"
}
docker compose version >/dev/null 2>&1 || build_plugin compose github.com/docker/compose/v2 \
    "$COMPOSE_VERSION" github.com/docker/compose/v2/cmd \
    "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
docker buildx version >/dev/null 2>&1 || build_plugin buildx github.com/docker/buildx \
    "$BUILDX_VERSION" github.com/docker/buildx/cmd/buildx \
    "-s -w -X github.com/docker/buildx/version.Version=$BUILDX_VERSION"

# An engine that answered but lacked the plugins needs nothing more.
if [ -z "${DOCKER_HOST:-}" ] && docker info >/dev/null 2>&1; then
    say "the engine at the default socket answers; plugins installed"
    rm -f "$ENGINE_ENV"
    exit 0
fi

# 4. The engine.
mkdir -p "$RUN_DIR" "$DATA_DIR"
pid=$(cat "$RUN_DIR/dockerd.pid" 2>/dev/null || true)
if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    say "dockerd is starting (pid $pid)"
else
    say "starting dockerd on $SOCK (data in $DATA_DIR)"
    rm -f "$RUN_DIR/dockerd.pid"
    setsid dockerd --iptables=false --ip-masq=false \
        --data-root "$DATA_DIR" --exec-root "$RUN_DIR/exec" \
        -H "$SOCK" -p "$RUN_DIR/dockerd.pid" \
        >>"$CACHE/docker/dockerd.log" 2>&1 </dev/null &
fi
for _ in $(seq 1 120); do
    if DOCKER_HOST="$SOCK" docker info >/dev/null 2>&1; then
        write_env "$SOCK"
        say "engine ready: export DOCKER_HOST=$SOCK (also in $ENGINE_ENV)"
        exit 0
    fi
    sleep 0.5
done
say "dockerd did not answer within 60 s; see $CACHE/docker/dockerd.log"
tail -n 20 "$CACHE/docker/dockerd.log" >&2 || true
exit 1
