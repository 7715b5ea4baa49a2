"""Is a Kafka broker answering on a port (an ApiVersions v0 request, not merely a bound
port), and is a port taken at all. Standard library only; tools/kafka/broker.py imports it."""

from __future__ import annotations

import socket
import struct

from kafka_base import DEFAULT_PORT, HOST


def kafka_answers(port: int = DEFAULT_PORT, host: str = HOST, timeout: float = 2.0) -> bool:
    """True when ``host:port`` answers an ApiVersions request without error."""
    client_id = b"broker.py"
    correlation_id = 0x6B61
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(sock, 4)
            (size,) = struct.unpack(">i", head)
            if size < 6 or size > 1 << 20:
                return False
            resp = _recv_exact(sock, size)
    except OSError:
        return False
    corr, error_code = struct.unpack(">ih", resp[:6])
    return corr == correlation_id and error_code == 0


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
