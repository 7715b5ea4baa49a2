"""HTTP/1.1 requests written byte by byte on a socket, for requests a client would refuse
to send (control bytes, non-UTF-8 bytes, duplicate or missing headers, odd targets)."""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    name: str
    method: bytes = b"GET"
    target: bytes = b"/fitness/wod"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    host: bytes | None = b"127.0.0.1"
    """The Host header (None: none sent)."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[bytes, bytes]
    """Lower-cased names; the last value of a repeated header."""
    body: bytes


def raw_request(probe: Probe, method: bytes | None = None) -> bytes:
    lines = [(method or probe.method) + b" " + probe.target + b" HTTP/1.1"]
    if probe.host is not None:
        lines.append(b"Host: " + probe.host)
    lines += [name + b": " + value for name, value in probe.headers]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def send(port: int, probe: Probe, method: bytes | None = None, timeout: float = 10) -> Reply:
    """Send the probe on a new connection and read the whole answer (until the server
    closes). A connection closed without an answer is status 0."""
    request = raw_request(probe, method)
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return parse_reply(b"".join(chunks))


def parse_reply(data: bytes) -> Reply:
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        return Reply(0, {}, b"")
    status_line, *header_lines = head.split(b"\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding") == b"chunked":
        body = _unchunk(body)
    return Reply(int(status_line.split()[1]), headers, body)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)
