"""Prometheus metrics of the HTTP layer and the `/metrics` route that serves every metric."""

from __future__ import annotations

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)


# The labelled children already used, looked up once each (labels() validates and locks on
# every call): a few dozen routes x methods x statuses.
_latency: dict[tuple[str, str], Histogram] = {}
_requests: dict[tuple[str, str, int], Counter] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request under its route's template (`/orders/{order_id}/`), so that
    ids in paths do not make a label value per resource."""
    latency = _latency.get((method, route))
    if latency is None:
        latency = _latency[method, route] = HTTP_LATENCY.labels(method, route)
    latency.observe(seconds)
    requests = _requests.get((method, route, status))
    if requests is None:
        requests = _requests[method, route, status] = HTTP_REQUESTS.labels(
            method, route, str(status)
        )
    requests.inc()


def install_metrics(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
