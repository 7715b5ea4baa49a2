"""A response coach's HTTP protocol serves reaches the socket's transport in one write, head
and body together (api/onewrite.py), over a real uvicorn server and a real TCP connection:
uvicorn alone writes them in two, which is two `send` system calls and two TCP segments per
response. A recording transport between the real one and coach's protocol counts the writes."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from api.refusals import JsonRefusalProtocol

BODY = b'{"exercises":[]}'


async def _app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


class _Counting:
    """The socket's transport, with each write recorded."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _protocol_recording(writes: list[bytes]) -> type:
    class Recorded(JsonRefusalProtocol):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            super().connection_made(_Counting(transport, writes))

    return Recorded


async def _serve_and_ask(
    requests: list[bytes], *, half_close: bool = False
) -> tuple[list[bytes], bytes]:
    writes: list[bytes] = []
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=0,
        loop="asyncio",
        log_level="warning",
        lifespan="off",
        http=_protocol_recording(writes),
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        received = b""
        if half_close:  # the requests, then the end of the client's side: read to the close
            writer.write(b"".join(requests))
            writer.write_eof()
            received = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return writes, received
        for request in requests:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            received += head
            if not request.startswith(b"HEAD"):
                received += await reader.readexactly(len(BODY))
        writer.close()
        return writes, received
    finally:
        server.should_exit = True
        await serving


def test_head_and_body_of_each_response_reach_the_socket_in_one_write():
    get = b"GET /fitness/wod HTTP/1.1\r\nhost: x\r\n\r\n"
    writes, received = asyncio.run(_serve_and_ask([get, get, get]))
    assert len(writes) == 3, writes  # one per response (uvicorn alone: six)
    for write in writes:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\n" + BODY)
    assert received == b"".join(writes)


def test_a_head_request_is_answered_without_waiting_for_a_body():
    head = b"HEAD /fitness/wod HTTP/1.1\r\nhost: x\r\n\r\n"
    writes, received = asyncio.run(asyncio.wait_for(_serve_and_ask([head, head]), timeout=10))
    assert len(writes) == 2 and all(w.endswith(b"\r\n\r\n") for w in writes)
    assert received == b"".join(writes)


def test_a_client_that_half_closes_after_its_request_gets_the_whole_answer():
    """`nc -N`, some probes: the request, then FIN. asyncio closes the transport when the
    end of the client's side arrives; what was held must go out first (a HEAD's head, alone
    in its write, was lost: review of 7bd2d3f)."""
    for method in (b"HEAD", b"GET"):
        request = method + b" /fitness/wod HTTP/1.1\r\nhost: x\r\n\r\n"
        _, received = asyncio.run(_serve_and_ask([request], half_close=True))
        assert received.startswith(b"HTTP/1.1 200 OK\r\n"), (method, received)
        assert received.endswith(b"\r\n\r\n" if method == b"HEAD" else BODY), received
