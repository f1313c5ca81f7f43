#!/bin/bash
# As the official image: `redis-server …` runs as the redis user in /data, with protected mode
# off (the official build's default; the container network is the boundary).
set -euo pipefail
if [ "${1:-}" = redis-server ]; then
    shift
    if [ "$(id -u)" = 0 ]; then
        chown -R redis:redis /data
        exec setpriv --reuid=redis --regid=redis --init-groups redis-server --protected-mode no "$@"
    fi
    exec redis-server --protected-mode no "$@"
fi
exec "$@"
