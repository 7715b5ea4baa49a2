"""api/onewrite.py: what reaches the socket's transport, and when (a recording transport on
a real event loop)."""

from __future__ import annotations

import asyncio

from api.onewrite import OneWriteTransport


class Recording:
    """A transport that records its writes and how it was closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.eof = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def write_eof(self) -> None:
        self.eof = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def _run(body):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        real = Recording()
        await body(real, OneWriteTransport(real, asyncio.get_running_loop()))  # type: ignore[arg-type]
        return real

    return asyncio.run(main())


def test_a_head_and_its_body_written_in_one_turn_reach_the_socket_as_one_write():
    async def body(real, t):  # type: ignore[no-untyped-def]
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"{}")
        assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        await asyncio.sleep(0)
        assert len(real.writes) == 1  # the turn's end sends nothing more

    _run(body)


def test_a_lone_write_goes_out_at_the_end_of_the_loop_turn():
    """A HEAD's response has no body: its head is not held past the turn that wrote it."""

    async def body(real, t):  # type: ignore[no-untyped-def]
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert real.writes == []
        await asyncio.sleep(0)
        assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n"]

    _run(body)


def test_responses_one_after_another_keep_their_order_and_each_goes_out_whole():
    async def body(real, t):  # type: ignore[no-untyped-def]
        t.write(b"head1")
        t.write(b"body1")
        t.write(b"head2")
        await asyncio.sleep(0)
        t.write(b"head3")
        t.write(memoryview(b"body3"))
        assert real.writes == [b"head1body1", b"head2", b"head3body3"]

    _run(body)


def test_close_sends_what_is_held_first_and_abort_drops_it():
    async def closing(real, t):  # type: ignore[no-untyped-def]
        t.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        t.close()
        assert real.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and real.closed
        await asyncio.sleep(0)
        assert len(real.writes) == 1

    _run(closing)

    async def aborting(real, t):  # type: ignore[no-untyped-def]
        t.write(b"partial")
        t.abort()
        await asyncio.sleep(0)
        assert real.writes == [] and real.aborted

    _run(aborting)


def test_write_eof_sends_what_is_held_first():
    async def body(real, t):  # type: ignore[no-untyped-def]
        t.write(b"last")
        t.write_eof()
        assert real.writes == [b"last"] and real.eof

    _run(body)


def test_nothing_is_written_once_the_connection_is_closing():
    async def body(real, t):  # type: ignore[no-untyped-def]
        t.write(b"late")
        real.closed = True  # the peer went away within the turn
        await asyncio.sleep(0)
        assert real.writes == []

    _run(body)


def test_empty_writes_hold_nothing_and_the_rest_goes_to_the_transport():
    async def body(real, t):  # type: ignore[no-untyped-def]
        t.write(b"")
        await asyncio.sleep(0)
        assert real.writes == []
        t.writelines([b"a", b"b"])
        t.write(b"c")
        assert real.writes == [b"abc"]
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)
        assert t.is_closing() is False

    _run(body)
