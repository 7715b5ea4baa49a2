"""The trailing-slash redirect (`/fitness/wod/` -> `/fitness/wod`), with a relative Location.

Starlette's own redirect builds an absolute URL from the request's `Host` header and scheme
(which uvicorn takes from `X-Forwarded-Proto` when the peer is a trusted proxy): a client
chose the host it was sent to. This one answers the same 307 with a relative Location
(RFC 9110, 10.2.2: the path, and the query as sent), so no header of the request reaches
it. It runs where Starlette's did, when no route matched, and only towards a route that
exists; anything else is the router's 404.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send


def relative_location(scope: Scope, router: Router) -> str | None:
    """Where a request for a path with trailing slashes is sent: the same path without
    them, if a route of `router` answers it, and the query string as it came; else None."""
    route_path = get_route_path(scope)
    if route_path == "/" or not route_path.endswith("/"):
        return None
    path = scope["path"].rstrip("/")
    if not path.startswith("/") or path.startswith("//"):  # never a scheme-relative URL
        return None
    redirect_scope = {**scope, "path": path}
    if all(route.matches(redirect_scope)[0] is Match.NONE for route in router.routes):
        return None
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


class RelativeSlashRedirect:
    """The router's `default` (called when no route matched): the relative redirect, else
    the default it replaces."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.fallback: ASGIApp = router.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        location = relative_location(scope, self.router) if scope["type"] == "http" else None
        if location is None:
            await self.fallback(scope, receive, send)
            return
        await RedirectResponse(location, status_code=307)(scope, receive, send)


def use_relative_slash_redirects(router: Router) -> None:
    """Replace Starlette's absolute trailing-slash redirect of `router` by the relative one."""
    router.redirect_slashes = False
    router.default = RelativeSlashRedirect(router)
