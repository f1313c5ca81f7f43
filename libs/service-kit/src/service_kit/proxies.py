"""Who the client is: the socket peer, unless the peer is a trusted proxy (the gateway), whose
`X-Forwarded-For` is then believed.

Trusted proxies are CIDRs (`127.0.0.2`, `10.0.0.0/8`) or host names (`gateway`: in a container
network the gateway has no fixed address, and a new one each time it is recreated). Names are
looked up at start and again every few seconds by a background thread, never on the request path;
until a name resolves, nothing is trusted in its place, so clients are then limited as the
gateway's own address: stricter, never looser.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Sequence

import structlog
from fastapi import Request

log = structlog.get_logger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

REFRESH_SECONDS = 5.0


class TrustedProxies:
    def __init__(self, entries: Sequence[str], refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.networks: tuple[Network, ...] = ()
        self.names: tuple[str, ...] = ()
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                self.networks += (ipaddress.ip_network(entry, strict=False),)
            except ValueError:
                self.names += (entry,)
        self._resolved: frozenset[Address] = frozenset()
        self._unresolved: set[str] = set()
        if self.names:
            self.refresh()
            threading.Thread(
                target=self._refresh_forever, args=(refresh_seconds,), daemon=True
            ).start()

    def __bool__(self) -> bool:
        return bool(self.networks or self.names)

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return ip in self._resolved or any(ip in net for net in self.networks)

    def refresh(self) -> None:
        resolved: set[Address] = set()
        for name in self.names:
            try:
                infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            except OSError as exc:
                if name not in self._unresolved:
                    log.warning("proxies.unresolved", name=name, error=str(exc))
                    self._unresolved.add(name)
                continue
            self._unresolved.discard(name)
            resolved |= {ipaddress.ip_address(info[4][0]) for info in infos}
        if resolved != self._resolved:
            log.info("proxies.resolved", addresses=sorted(str(a) for a in resolved))
        self._resolved = frozenset(resolved)  # one assignment: readers see old or new, whole

    def _refresh_forever(self, seconds: float) -> None:
        while True:
            time.sleep(seconds)
            self.refresh()


def client_ip(request: Request, trusted: TrustedProxies) -> str:
    """The client's address: the first hop, walking X-Forwarded-For back through trusted proxies."""
    peer = request.client.host if request.client else "unknown"
    if not trusted or peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return hops[0] if hops else peer
