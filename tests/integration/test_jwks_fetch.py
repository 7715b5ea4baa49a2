"""Fetching the key set over real HTTP: what is followed, what is refused, and why."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from api.jwks import JwksError
from api.jwksfetch import MAX_BODY_BYTES, discover_jwks_uri, fetch

ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/jwks": (200, {"Cache-Control": "max-age=120"}, b'{"keys": []}'),
    "/to-jwks": (302, {"Location": "/jwks"}, b""),
    "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
    "/to-ftp": (302, {"Location": "ftp://127.0.0.1/jwks"}, b""),
    "/broken": (500, {}, b"oops"),
    "/huge": (200, {}, b" " * (MAX_BODY_BYTES + 10)),
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        status, headers, body = ROUTES.get(self.path, (404, {}, b""))
        if self.path == "/.well-known/openid-configuration":
            status, body = 200, self.server.discovery  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.discovery = b"{}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_the_body_and_its_cache_control_are_returned_after_an_http_redirect(server):
    fetched = fetch(url(server, "/to-jwks"), timeout=5)
    assert (fetched.body, fetched.cache_control) == (b'{"keys": []}', "max-age=120")


def test_a_redirect_to_another_scheme_is_refused(server):
    """urllib itself refuses a redirect to file:, but follows one to ftp:; the key set comes
    over http(s) only, and the redirect is not followed."""
    with pytest.raises(JwksError, match="answered HTTP 302"):
        fetch(url(server, "/to-file"), timeout=5)
    with pytest.raises(JwksError, match="redirects to a URL that is not http or https"):
        fetch(url(server, "/to-ftp"), timeout=5)


@pytest.mark.parametrize(
    ("path", "why"), [("/broken", "answered HTTP 500"), ("/huge", "the body is over")]
)
def test_a_bad_answer_is_an_error_naming_the_url(server, path, why):
    with pytest.raises(JwksError, match=why) as raised:
        fetch(url(server, path), timeout=5)
    assert url(server, path) in str(raised.value)


def test_discovery_needs_the_configured_issuer_and_an_http_jwks_uri(server):
    issuer = url(server, "")
    server.discovery = f'{{"issuer": "{issuer}", "jwks_uri": "{issuer}/jwks"}}'.encode()
    assert discover_jwks_uri(issuer, timeout=5) == f"{issuer}/jwks"
    server.discovery = f'{{"issuer": "{issuer}", "jwks_uri": "file:///etc/passwd"}}'.encode()
    with pytest.raises(JwksError, match="no http"):
        discover_jwks_uri(issuer, timeout=5)
    server.discovery = b'{"issuer": "https://evil.example", "jwks_uri": "https://evil.example/k"}'
    with pytest.raises(JwksError, match="its issuer is not"):
        discover_jwks_uri(issuer, timeout=5)
