"""Readiness probes: is a local port open, does a URL answer 200, does Redis answer PING."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (fixed local URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def service_ready(port: int) -> Callable[[], bool]:
    """A service is ready when its /health/ready answers 200."""
    return lambda: http_ok(f"http://127.0.0.1:{port}/health/ready")
