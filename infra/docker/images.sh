#!/usr/bin/env bash
# `make docker-images`: the base images docker-compose.yml names (postgres, redis, kafka, nginx,
# and the services' python), each the official image where it is present or can be pulled.
# Where no registry answers, a local stand-in is built instead (infra/docker/standins/: Debian's
# packages on a debootstrapped Debian), tagged by the hash of what it is built from, and its name
# written to $IMAGES_ENV (default .stack/docker-images.env) as POSTGRES_IMAGE=… and so on, which
# infra/docker/compose.sh passes to compose. A variable set by the user is used as it is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${ORDERS_STACK_CACHE:-$HOME/.cache/orders-stack}"
IMAGES_ENV="${IMAGES_ENV:-$ROOT/.stack/docker-images.env}"
STANDINS="$ROOT/infra/docker/standins"
BASE_TAG=orders-platform/standin-base:bookworm
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/infra/kafka/pom.xml")
KAFKA_HOME="${KAFKA_HOME:-$CACHE/kafka-$KAFKA_VERSION}"
# shellcheck source=/dev/null
[ -f "$ROOT/.stack/docker.env" ] && { set -a; . "$ROOT/.stack/docker.env"; set +a; }

say() { printf 'docker-images: %s\n' "$*" >&2; }

# The default of ${VAR:-default} in docker-compose.yml: one place for the official names.
compose_default() {
    sed -n "s/.*\${$1:-\([^}]*\)}.*/\1/p" "$ROOT/docker-compose.yml" | head -n 1
}

present() { docker image inspect "$1" >/dev/null 2>&1; }

registry=unknown
pull() {
    [ "$registry" = down ] && return 1
    say "pulling $1"
    if timeout 120 docker pull -q "$1" >/dev/null 2>&1; then registry=up; return 0; fi
    say "cannot pull $1: building local stand-ins instead"
    registry=down
    return 1
}

base_image() {
    present "$BASE_TAG" && return 0
    command -v debootstrap >/dev/null || { say "debootstrap is missing (make docker-engine)"; exit 1; }
    local mirror rootfs
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p; s/^deb \(http[^ ]*\/debian\) .*/\1/p' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n 1)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d)
    say "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" \
        >"$CACHE/docker/debootstrap.log" 2>&1 || {
        tail -n 20 "$CACHE/docker/debootstrap.log" >&2
        exit 1
    }
    # The same package sources and TLS trust as this machine (builds reach PyPI through it).
    rm -f "$rootfs/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/" 2>/dev/null ||
        cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
    cp -r /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
    chroot "$rootfs" update-ca-certificates >/dev/null
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$rootfs/etc/apt/apt.conf.d/90-standin"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["bash"]' - "$BASE_TAG" >/dev/null
    rm -rf "$rootfs"
}

# Build the stand-in for $1 and print its tag.
standin() {
    local name=$1 context
    base_image
    context=$(mktemp -d)
    cp -r "$STANDINS/$name/." "$context/"
    if [ "$name" = kafka ]; then
        [ -d "$KAFKA_HOME/libs" ] || { say "Kafka jars missing in $KAFKA_HOME: run make install"; exit 1; }
        cp -al "$KAFKA_HOME/libs" "$context/libs" 2>/dev/null || cp -r "$KAFKA_HOME/libs" "$context/libs"
        cp "$ROOT/infra/kafka/log4j2.properties" "$context/"
    fi
    local hash tag
    hash=$( (docker image inspect -f '{{.Id}}' "$BASE_TAG"; cd "$context" && find . -type f | sort |
        xargs sha256sum) | sha256sum | cut -c1-12)
    tag="orders-platform/standin-$name:$hash"
    if ! present "$tag"; then
        say "building $tag"
        docker build -q --network host --build-arg BASE_IMAGE="$BASE_TAG" -t "$tag" "$context" \
            >/dev/null
    fi
    rm -rf "$context"
    printf '%s' "$tag"
}

mkdir -p "$(dirname "$IMAGES_ENV")" "$CACHE/docker"
chosen=()
for pair in postgres:POSTGRES_IMAGE redis:REDIS_IMAGE kafka:KAFKA_IMAGE nginx:NGINX_IMAGE \
    python:PYTHON_IMAGE; do
    name=${pair%%:*} var=${pair#*:}
    # The user's choice, from the environment or .env (not one this script wrote earlier).
    user=${!var:-}
    [ -n "$user" ] || [ ! -f "$ROOT/.env" ] || user=$(sed -n "s/^$var=//p" "$ROOT/.env" | tail -n 1)
    if [ -n "$user" ] && ! grep -qx "$var=$user" "$IMAGES_ENV" 2>/dev/null; then
        ref=$user
        present "$ref" || pull "$ref" || { say "$var=$ref can be neither found nor pulled"; exit 1; }
        continue
    fi
    ref=$(compose_default "$var")
    [ -n "$ref" ] || { say "no \${$var:-…} default in docker-compose.yml"; exit 1; }
    if present "$ref" || pull "$ref"; then
        say "$ref"
        continue
    fi
    tag=$(standin "$name")
    say "$ref -> $tag"
    chosen+=("$var=$tag")
done
printf '%s\n' "# written by infra/docker/images.sh: local stand-ins for images that cannot be pulled" \
    "${chosen[@]}" >"$IMAGES_ENV"
