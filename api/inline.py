"""GET and HEAD /fitness/wod answered inside coach's HTTP protocol, without an ASGI task.

uvicorn serves each request through its ASGI cycle: a Task, an Event, the app's middleware
(uvicorn's proxy headers, Starlette's error middleware, coach's metrics and WOD fast path,
api/fastpath.py) and two ASGI `send` messages whose headers uvicorn checks one by one. For a
WOD held in memory that machinery is most of the server's CPU per request: measured with
cProfile over HTTP (the hot mix of bench/tail.py), about two thirds of the time outside
the event loop's own polling went to it, against a fifth to `api.wod.answer_wod` itself.

`answer_wod` is synchronous (it reads the projection without awaiting), so the protocol can
call it when the request is complete and write the response at once, the same bytes the
ASGI path writes: uvicorn's default headers (`date`, `server`), the response's own,
`connection: close` when the connection is not kept alive, no body for HEAD. The request is
counted in the same Prometheus metrics (api/metrics.py), shadow requests apart.

Only a request that nothing else could disturb is answered here; any other goes the
ordinary way, through the ASGI app, which answers it the same (tests/integration/
test_wod_inline.py sends the hostile corpus both ways and compares every response):
- the method GET or HEAD and the path exactly `/fitness/wod` (any query), no request body
  declared (the ASGI way answers without waiting for one);
- no response in flight on the connection and none queued behind one (pipelining keeps
  its order), the transport not paused for writing (a client that does not read), and no
  other inline answer in the same read (a pipelined burst would hold the event loop);
- HTTP/1.0 or 1.1, no `Expect: 100-continue`, no upgrade, no root path, no concurrency
  limit, no access log (uvicorn's options coach does not use);
- the app started (its lifespan ran) and `COACH_WOD_INLINE` on.
A request parsed after a response closed the connection is dropped, as the ASGI way never
runs it. An exception `answer_wod` does not turn into an HTTP error (none is known: the hostile
corpus finds none) is not answered here either: the request is handed to the ASGI app,
which answers it as it would have.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.errors import ApiError
from api.fastpath import authorization_header
from api.metrics import RequestMetrics, is_shadow
from api.responses import JSONBody
from api.wod import WOD_PATH, answer_wod

log = logging.getLogger(__name__)

_PATH = WOD_PATH.encode("ascii")
_METHODS = {b"GET": "GET", b"HEAD": "HEAD"}


class _Request(NamedTuple):
    state: Any
    metrics: RequestMetrics
    method: str
    query: bytes
    keep_alive: bool


def coach_app(app: Any) -> Any | None:
    """coach's FastAPI app under uvicorn's wrappers (proxy headers), or None."""
    for _ in range(8):
        state = getattr(app, "state", None)
        if state is not None and hasattr(state, "request_metrics"):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def _declares_a_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """A request body is coming (or may): the ASGI way answers before it has arrived, so
    such a request goes that way."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class InlineWodProtocol(HttpToolsProtocol):
    _inline: _Request | None = None
    _coach: Any = None
    _inline_left = 1
    """Inline answers left in this read: one, so that a pipelined burst does not hold the
    loop (each of its other requests goes the ASGI way, in order, one task at a time)."""
    _dropped = False
    """The request was parsed after the connection began closing: it is not answered."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._coach = coach_app(self.app)

    def data_received(self, data: bytes) -> None:
        self._inline_left = 1
        super().data_received(data)

    def on_headers_complete(self) -> None:
        # Behind a response that closed the connection (HTTP/1.0, Connection: close) the
        # parser goes on; the ASGI way such a request waits behind it and never runs.
        self._dropped = self.transport.is_closing()
        if self._dropped:
            return
        self._inline = self._inline_request()
        if self._inline is None:
            # An ASGI request after an inline one: no keep-alive time-out while it runs.
            self._unset_keepalive_if_required()
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._inline is None and not self._dropped:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._dropped:
            return
        request = self._inline
        if request is None:
            super().on_message_complete()
            return
        self._inline = None
        self._inline_left = 0
        self._answer(request)

    def _inline_request(self) -> _Request | None:
        app = self._coach
        if app is None or not self._inline_left:
            return None
        state = app.state.coach
        if state is None or not state.settings.wod_inline:
            return None
        method = _METHODS.get(self.parser.get_method())
        if (
            method is None
            or _declares_a_body(self.headers)
            or (self.cycle is not None and not self.cycle.response_complete)
            or self.pipeline
            or self.flow.write_paused
            or self.expect_100_continue
            or self.root_path
            or self.limit_concurrency is not None
            or self.access_log
            or self.parser.should_upgrade()
        ):
            return None
        version = self.parser.get_http_version()
        if version not in ("1.1", "1.0"):
            return None
        try:
            url = httptools.parse_url(self.url)
        except httptools.HttpParserError:
            return None  # the ordinary way says what it says of it
        if url.path != _PATH:
            return None
        keep_alive = version == "1.1" and self.parser.should_keep_alive()
        return _Request(state, app.state.request_metrics, method, url.query or b"", keep_alive)

    def _answer(self, request: _Request) -> None:
        started = time.perf_counter()
        scope: Any = self.scope  # its headers are the request's, as the ASGI way reads them
        try:
            response: Any = answer_wod(request.state, request.query, authorization_header(scope))
        except ApiError as exc:
            response = JSONBody({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)
        except Exception:
            log.debug("an inline WOD raised: handed to the ASGI app", exc_info=True)
            super().on_headers_complete()
            super().on_message_complete()
            return
        status = response.status_code
        content = [STATUS_LINE[status]]
        for name, value in (*self.server_state.default_headers, *response.raw_headers):
            content.extend([name, b": ", value, b"\r\n"])
        if not request.keep_alive:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        if request.method != "HEAD":
            content.append(response.body)
        self.transport.write(b"".join(content))
        if not request.keep_alive:
            self.transport.close()
        request.metrics.observe(
            request.method,
            WOD_PATH,
            status,
            time.perf_counter() - started,
            is_shadow(scope),
        )
        self.on_response_complete()
