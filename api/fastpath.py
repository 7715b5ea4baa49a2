"""GET and HEAD /fitness/wod, answered before FastAPI's routing and dependency solving.

Measured in process (bench/wod_inprocess.py --plain): FastAPI's route matching, its
dependency solving (the bearer scheme, then the route's own parameters) and its exception
middleware cost more per request than the WOD's own work once it is held, and as much as
choosing it for a user not seen before. A plain FastAPI app answering a fixed body pays them
too, so coach could not cost what the framework costs while paying them twice.

This pure ASGI middleware answers exactly those two methods of that one path with
`api.wod.answer_wod`, the function the FastAPI route itself calls: same verifier, same
query rules, same errors. Everything else (other paths, other methods, `/fitness/wod/`, an
app mounted under a root path, a request before the lifespan has started) goes on to
FastAPI, which still declares the route for the OpenAPI document and answers it the same
way (tests/integration/test_api_fastpath.py compares the two, response by response).

It sits inside MetricsMiddleware, which labels the request with the route it sets here.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError
from api.responses import JSONBody
from api.wod import WOD_PATH, answer_wod, router

_METHODS = frozenset({"GET", "HEAD"})


def authorization_header(scope: Scope) -> str | None:
    """The first Authorization header's value, as Starlette's `Headers.get` reads it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


def _wod_route() -> Route:
    """The route FastAPI declares for GET /fitness/wod (its `path` labels the metrics)."""
    for route in router.routes:
        if isinstance(route, Route) and route.path == WOD_PATH and "GET" in (route.methods or ()):
            return route
    raise LookupError(f"api.wod declares no GET {WOD_PATH}")


class WodFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route = _wod_route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != WOD_PATH
            or scope["method"] not in _METHODS
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state.coach
        if state is None:  # not started, or stopping: FastAPI's route says what it says
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            response: Any = answer_wod(state, scope["query_string"], authorization_header(scope))
        except ApiError as exc:
            response = JSONBody({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)
        await response(scope, receive, send)
