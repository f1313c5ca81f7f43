#!/usr/bin/env bash
# `docker compose` with what `make docker-engine` and `make docker-images` chose: the engine's
# DOCKER_HOST and BUILD_NETWORK (.stack/docker.env) and the stand-in images
# (.stack/docker-images.env); a variable already set in the environment wins. Before `up`, the
# host ports the stack publishes must be free (the native stack uses the same ones).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

for file in .stack/docker.env .stack/docker-images.env; do
    [ -f "$file" ] || continue
    while IFS='=' read -r name value; do
        case "$name" in '' | \#*) continue ;; esac
        [ -n "${!name:-}" ] || export "$name=$value"
    done <"$file"
done

if [ "${1:-}" = up ] && [ -z "$(docker compose ps -q 2>/dev/null)" ]; then
    # Nothing of this project runs: every published port must be free.
    taken=$(docker compose config --format json | python3 -c '
import json, socket, sys
for name, service in json.load(sys.stdin)["services"].items():
    for port in service.get("ports", []):
        host, published = port.get("host_ip") or "127.0.0.1", int(port["published"])
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1" if host == "0.0.0.0" else host, published)) == 0:
                print(f"{host}:{published} ({name})")
')
    if [ -n "$taken" ]; then
        echo "compose: these ports are taken (is the native stack up? make dev-down):" >&2
        echo "$taken" | sed 's/^/  /' >&2
        exit 1
    fi
fi
exec docker compose "$@"
