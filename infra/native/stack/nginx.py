"""The gateway: nginx serving the routes of `infra/nginx/gateway.conf.template` (the template
compose fills too), with the native upstreams, inside an nginx.conf whose every path is under
STACK_DIR.

With two replicas an upstream group lists both: a replica that refuses connections or times out
is skipped for 10 s (`max_fails=1 fail_timeout=10s`), and the request goes to the other
(`proxy_next_upstream`, in the template). nginx passes a POST or a PATCH on only when it never
reached the first replica; one that was sent and then lost is answered 502 (turned into the
gateway's JSON 503), for the client to retry: it may have been applied.
"""

from __future__ import annotations

import shutil
import string
from pathlib import Path

from .settings import Settings

# keepalive connections of each upstream group
KEEPALIVE = {"auth": 16, "orders": 32}

TEMPLATE = Path("infra/nginx/gateway.conf.template")
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def home(settings: Settings) -> Path:
    return settings.stack_dir / "nginx"


def command(settings: Settings) -> str:
    root = home(settings)
    return (
        f"{shutil.which('nginx') or '/usr/sbin/nginx'} -p {root} "
        f"-c {root / 'nginx.conf'} -e {settings.logs / 'gateway-error.log'}"
    )


def live_url(settings: Settings) -> str:
    return f"http://{settings.env['GATEWAY_BIND']}:{settings.port('GATEWAY')}/health/live"


def gateway_conf(settings: Settings, template: str) -> str:
    return string.Template(template).safe_substitute(
        AUTH_UPSTREAM="auth_service",  # the upstream groups of nginx_conf
        ORDERS_UPSTREAM="orders_service",
        GATEWAY_LISTEN=f"{settings.env['GATEWAY_BIND']}:{settings.port('GATEWAY')}",
        GATEWAY_RESOLVER="",  # addresses, not names: nothing to resolve
    )


def nginx_conf(settings: Settings) -> str:
    root, logs, tmp = home(settings), settings.logs, home(settings) / "tmp"
    return f"""daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {logs / "gateway-error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {logs / "gateway-access.log"};
    # Upstream connections come from 127.0.0.2: the services trust X-Forwarded-For from there
    # only (*_TRUSTED_PROXIES), not from every local client.
    proxy_bind 127.0.0.2;
    client_body_temp_path {tmp / "client_body"};
    proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"};
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    # Fixed addresses, so upstream groups: their connections are kept open and reused instead
    # of one new TCP connection per request (compose resolves names per request instead). An
    # idle one is dropped after 4 s, before uvicorn's 5 s would close it under a request.
{upstream(settings, "auth")}
{upstream(settings, "orders")}
    include {root / "gateway.conf"};
}}
"""


def upstream(settings: Settings, role: str) -> str:
    count = settings.topology.count(role)
    # one replica: as before, no failover to mark it down for
    fails = " max_fails=1 fail_timeout=10s" if count > 1 else ""
    servers = "".join(
        f"        server 127.0.0.1:{settings.port(role.upper(), n)}{fails};\n"
        for n in range(1, count + 1)
    )
    return (
        f"    upstream {role}_service {{\n{servers}"
        f"        keepalive {KEEPALIVE[role]}; keepalive_timeout 4s;\n    }}"
    )


def write_config(settings: Settings) -> None:
    root = home(settings)
    for sub in TEMP_PATHS:
        (root / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    template = (settings.root / TEMPLATE).read_text()
    (root / "gateway.conf").write_text(gateway_conf(settings, template))
    (root / "nginx.conf").write_text(nginx_conf(settings))
