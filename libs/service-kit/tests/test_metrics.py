"""HTTP metrics: counted by route template, served in Prometheus' text format."""

from __future__ import annotations

import httpx

from service_kit.metrics import HTTP_REQUESTS


def _count(route: str, status: str) -> float:
    return float(HTTP_REQUESTS.labels("GET", route, status)._value.get())


async def test_requests_are_counted_by_route_template(client: httpx.AsyncClient) -> None:
    before = _count("/items/{item_id}", "200")
    await client.get("/items/1")
    await client.get("/items/2")
    assert _count("/items/{item_id}", "200") == before + 2


async def test_a_path_no_route_matches_is_counted_as_unmatched(
    client: httpx.AsyncClient,
) -> None:
    before = _count("unmatched", "404")
    await client.get("/no/such/path")
    assert _count("unmatched", "404") == before + 1


async def test_metrics_are_served_as_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/hello")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{method="GET",route="/hello",status="200"}' in response.text
