"""Trusted proxies: CIDRs, and host names resolved by the machine's own resolver."""

from __future__ import annotations

from starlette.requests import Request

from service_kit.proxies import TrustedProxies, client_ip


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


def test_cidrs_and_addresses() -> None:
    trusted = TrustedProxies(["127.0.0.2", "10.1.0.0/16", " "])
    assert "127.0.0.2" in trusted
    assert "10.1.200.3" in trusted
    assert "10.2.0.1" not in trusted
    assert "not-an-address" not in trusted
    assert not TrustedProxies([])


def test_a_host_name_is_trusted_by_the_addresses_it_resolves_to() -> None:
    trusted = TrustedProxies(["localhost"], refresh_seconds=3600)
    assert "127.0.0.1" in trusted
    assert "127.0.0.3" not in trusted


def test_an_unresolvable_name_trusts_nothing() -> None:
    trusted = TrustedProxies(["no-such-host.invalid"], refresh_seconds=3600)
    assert trusted  # configured, so X-Forwarded-For is considered, but from nobody
    assert client_ip(_request("127.0.0.1", "203.0.113.9"), trusted) == "127.0.0.1"


def test_client_ip_walks_back_through_trusted_hops_only() -> None:
    trusted = TrustedProxies(["127.0.0.2"])
    assert client_ip(_request("127.0.0.2", "203.0.113.9"), trusted) == "203.0.113.9"
    # a client that sends its own X-Forwarded-For through the gateway cannot pick its address
    assert client_ip(_request("127.0.0.2", "198.51.100.1, 203.0.113.9"), trusted) == "203.0.113.9"
    # a direct caller is the socket peer, whatever it claims
    assert client_ip(_request("198.51.100.7", "203.0.113.9"), trusted) == "198.51.100.7"
    assert client_ip(_request("198.51.100.7"), TrustedProxies([])) == "198.51.100.7"
