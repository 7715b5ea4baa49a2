"""uvicorn's HTTP protocol, with its own 400 (a request its parser refuses) as JSON.

Some requests never reach the app: httptools refuses bytes HTTP forbids in a header value
(control characters), a method it does not know, a malformed request line. uvicorn then
writes a fixed `400 Invalid HTTP request received.` as text/plain itself. coach's rule is
that every refusal has a JSON body (clients and nginx's logs read it), so this protocol
writes the same 400 with a fixed JSON body, and nothing of the request.

`send_400_response` is uvicorn's own hook for that answer (uvicorn 0.54); should a later
uvicorn stop calling it, the hostile corpus tests (tests/integration/test_api_hostile.py)
fail on the text/plain 400.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BODY = b'{"detail":"invalid HTTP request"}'


class JsonRefusalProtocol(HttpToolsProtocol):
    """Given to uvicorn as `http="api.refusals:JsonRefusalProtocol"` by `coach api` and
    `coach run` (coach/cli.py `uvicorn_options`)."""

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
