#!/usr/bin/env bash
# `make jwt-key`: a new Ed25519 signing key for auth-service at $1 (default .secrets/auth-jwt.pem),
# for docker-compose.prod.yml's secret. Readable by its owner and by the services' group (gid
# 10001, the images' `app` user), since compose mounts a file secret with its host permissions.
# An existing key is kept: rotating it is a deliberate act (move the old one away first).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
key=${1:-$ROOT/.secrets/auth-jwt.pem}
if [ -s "$key" ]; then
    echo "jwt-key: $key exists; kept"
    exit 0
fi
mkdir -p "$(dirname "$key")"
umask 077
openssl genpkey -algorithm ed25519 -out "$key.new"
chgrp 10001 "$key.new" 2>/dev/null && chmod 0640 "$key.new" ||
    echo "jwt-key: could not give gid 10001 read access; the container may not read the key" >&2
mv "$key.new" "$key"
echo "jwt-key: wrote $key"
