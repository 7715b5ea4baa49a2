"""Every connection coach serves has TCP_NODELAY, also behind `coach api --workers N`, where
uvicorn binds the listening socket itself with proto 0 and asyncio's loop then sets no
TCP_NODELAY on what it accepts (api/refusals.py). Without it, Nagle's algorithm held each
response's body until nginx's delayed ACK of its head, 40 ms later: measured through nginx
to `coach api --workers 2`, a p50 of 45 ms at half load (bench/tail.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn

from api.refusals import JsonRefusalProtocol


async def _app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _listening_as_uvicorn_workers_bind() -> socket.socket:
    """The listening socket as uvicorn's Config.bind_socket makes it for --workers: family
    only, so its proto is 0."""
    sock = socket.socket(family=socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    assert sock.proto == 0
    return sock


async def _nodelay_of_served_connection(http: type | str) -> int:
    sock = _listening_as_uvicorn_workers_bind()
    config = uvicorn.Config(_app, loop="asyncio", http=http, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        (connection,) = server.server_state.connections
        served = connection.transport.get_extra_info("socket")
        value = served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return int(value)
    finally:
        server.should_exit = True
        await serving


def test_coach_protocol_sets_tcp_nodelay_on_a_socket_bound_as_for_workers():
    assert asyncio.run(_nodelay_of_served_connection(JsonRefusalProtocol)) == 1


@pytest.mark.parametrize("http", ["httptools"])
def test_uvicorn_alone_leaves_it_off_there(http: str):
    """The mechanism itself, so that this test notices the day asyncio or uvicorn sets it:
    then the override in api/refusals.py can go."""
    assert asyncio.run(_nodelay_of_served_connection(http)) == 0
