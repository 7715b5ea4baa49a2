"""Prometheus metrics, in a registry of the app's own (so tests can build many apps).

- `coach_http_request_duration_seconds` (histogram) and `coach_http_requests_total`
  (counter), by method, route template (`unmatched` for no route) and status, recorded by a
  pure ASGI middleware (BaseHTTPMiddleware would cost more than the WOD itself). These are
  the SLO metrics: the latency SLO's threshold (`SLO_LATENCY_SECONDS`) is one of the buckets,
  so that "requests under the threshold" is a bucket's count, not an interpolation.
- A request carrying `X-Coach-Shadow` (nginx's mirror of the monolith's traffic, phase 2 of
  the migration) is counted apart, in `coach_shadow_requests_total` and
  `coach_shadow_request_duration_seconds`, and never in the SLO metrics: no user waits for
  it. nginx clears the header on every request it routes to coach for real.
- The projection's state, read from SQLite at scrape time: lag, offsets and last event time
  per partition, the consumer's heartbeat age and broker reachability, dead letters, events
  of unknown type, catalog size; and GET /ready's verdict (`coach_ready`, with each check in
  `coach_ready_check`), from the same checks.
- With a key set (COACH_JWT_JWKS_URL): its age, size, refresh failures and fetches.

The request metrics, their middleware and GET /metrics are here; the scrape-time gauges are
in api/metrics_collectors.py.

With `coach api --workers N` each worker process has its own request metrics, and a scrape
reaches one of them; the projection's gauges are the same from every worker.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics_collectors import KeySetCollector, ProjectionCollector

SLO_LATENCY_SECONDS = 0.25
"""The WOD's latency SLO: 99 % of WODs answered within this, in the app (deploy/prometheus)."""
SHADOW_HEADER = b"x-coach-shadow"
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """The request metrics of one app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "coach_http_request_duration_seconds",
            "Time from the request's arrival in the app to the end of its response.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "coach_http_requests",
            "Requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.shadow_duration = Histogram(
            "coach_shadow_request_duration_seconds",
            "Time in the app per mirrored request (X-Coach-Shadow); not in the SLO metrics.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.shadow_requests = Counter(
            "coach_shadow_requests",
            "Mirrored requests (X-Coach-Shadow) answered, by route template and status.",
            ["route", "status"],
            registry=registry,
        )
        self._children: dict[tuple[str, str, int, bool], tuple[Any, Any]] = {}

    def observe(
        self, method: str, route: str, status_code: int, seconds: float, shadow: bool = False
    ) -> None:
        key = (method, route, status_code, shadow)
        children = self._children.get(key)
        if children is None:
            if shadow:
                children = (
                    self.shadow_duration.labels(route, str(status_code)),
                    self.shadow_requests.labels(route, str(status_code)),
                )
            else:
                labels = (method if method in METHODS else "other", route, str(status_code))
                children = (self.duration.labels(*labels), self.requests.labels(*labels))
            self._children[key] = children
        children[0].observe(seconds)
        children[1].inc()


def is_shadow(scope: Scope) -> bool:
    """Whether the request is nginx's mirror of a monolith request (any X-Coach-Shadow)."""
    return any(name == SHADOW_HEADER for name, _ in scope["headers"])


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request, labelled by route template."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_code = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.observe(
                method if method in METHODS else "other",
                template,
                status_code,
                time.perf_counter() - start,
                is_shadow(scope),
            )


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition (or OpenMetrics when asked for)",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}},
            },
        }
    },
)
async def get_metrics(request: Request) -> Response:
    """Request latency and counts by route and status; lag per partition; dead letters."""
    registry: CollectorRegistry = request.app.state.registry
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})


__all__ = [
    "LATENCY_BUCKETS",
    "SLO_LATENCY_SECONDS",
    "KeySetCollector",
    "MetricsMiddleware",
    "ProjectionCollector",
    "RequestMetrics",
    "router",
]
