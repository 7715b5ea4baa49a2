"""A response's head and body in one write, so in one `send` and one TCP segment.

uvicorn writes a response in two `transport.write` calls: the status line and headers, then
the body. asyncio's socket transport sends each at once when nothing is queued, so every
response costs two `send` system calls, and on loopback each one runs the receiver's side of
TCP too. `OneWriteTransport` stands between uvicorn's protocol and the socket's transport:
it holds the first write of a burst, and sends it together with the next write (the body),
or at the end of the event loop's current turn (`call_soon`) if nothing follows, or before
the connection is closed. A response is never delayed past the loop turn that wrote it, and
bytes are never reordered.

Everything else (flow control, extra info, closing) goes to the real transport unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any


class OneWriteTransport:
    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._loop = loop

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            if not data:
                return
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._held = None
        self._transport.write(held + data)

    def flush(self) -> None:
        """Send what is held (the loop turn that wrote it is over, or the end is near)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
