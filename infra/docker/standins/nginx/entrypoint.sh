#!/bin/bash
# As the official image's 20-envsubst-on-templates.sh: each /etc/nginx/templates/X.template
# becomes /etc/nginx/conf.d/X, with only the variables that are set replaced (nginx's own
# $variables stay as they are).
set -euo pipefail
templates=/etc/nginx/templates
if [ "${1:-}" = nginx ] && compgen -G "$templates/*.template" >/dev/null; then
    defined=$(printf '${%s} ' $(env | cut -d= -f1))
    for template in "$templates"/*.template; do
        out="/etc/nginx/conf.d/$(basename "$template" .template)"
        envsubst "$defined" <"$template" >"$out"
        echo "docker-entrypoint: $template -> $out"
    done
fi
exec "$@"
