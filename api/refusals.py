"""uvicorn's HTTP protocol, with its own 400 (a request its parser refuses) as JSON,
TCP_NODELAY on every connection, each response's head and body in one write
(api/onewrite.py), and the WOD answered without an ASGI task (api/inline.py).

Some requests never reach the app: httptools refuses bytes HTTP forbids in a header value
(control characters), a method it does not know, a malformed request line. uvicorn then
writes a fixed `400 Invalid HTTP request received.` as text/plain itself. coach's rule is
that every refusal has a JSON body (clients and nginx's logs read it), so this protocol
writes the same 400 with a fixed JSON body, and nothing of the request.

`send_400_response` is uvicorn's own hook for that answer (uvicorn 0.54); should a later
uvicorn stop calling it, the hostile corpus tests (tests/integration/test_api_hostile.py)
fail on the text/plain 400.

TCP_NODELAY: asyncio's loop sets it only on a socket whose `proto` is IPPROTO_TCP
(asyncio/base_events.py `_set_nodelay`). uvicorn's `--workers N` binds its listening socket
itself as `socket.socket(family)`, whose proto is 0, and so are the connections accepted from
it: Nagle's algorithm then holds a response's body (uvicorn writes the head and the body in
two writes) until the client acknowledges the head, which a client with delayed ACKs (nginx,
Linux) does after 40 ms. Measured through nginx to `coach api --workers 2`: a p50 of 45 ms at
half load, against 0.7 ms for one worker (docs/BENCHMARKS.md). uvloop sets it on every TCP
socket, so the plain app never showed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from api.inline import InlineWodProtocol
from api.onewrite import OneWriteTransport

BODY = b'{"detail":"invalid HTTP request"}'


class JsonRefusalProtocol(InlineWodProtocol):
    """Given to uvicorn as `http="api.refusals:JsonRefusalProtocol"` by `coach api` and
    `coach run` (coach/cli.py `uvicorn_options`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        self._one_write = OneWriteTransport(transport, self.loop)
        super().connection_made(self._one_write)  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        self._in_trailers = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_trailers = True
        super().on_headers_complete()

    def on_header(self, name: bytes, value: bytes) -> None:
        """A chunked body's trailer fields are dropped: uvicorn would add them to the
        request's headers (an Authorization or X-Coach-Shadow sent after the body)."""
        if not self._in_trailers:
            super().on_header(name, value)

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn leaves the keep-alive timer of a connection reset by its peer running, and
        the timer holds the protocol (about 6.5 kB) for coach's 75 s keep-alive."""
        self._unset_keepalive_if_required()
        super().connection_lost(exc)

    def eof_received(self) -> None:
        """The client ended its side (`nc -N`, a probe): asyncio closes the transport when
        this returns, so what OneWriteTransport holds goes out first."""
        self._one_write.flush()
        super().eof_received()

    def send_400_response(self, msg: str) -> None:
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(BODY)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                BODY,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def no_delay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on the connection's socket, when it is TCP (not a Unix socket)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
