"""Fetching the issuer's key set over HTTP(S): the only network coach's api does.

Called at start-up and from the refresher's thread (api/jwksrefresh.py), never on a
request's path. http and https URLs only (urllib would also open file: and other schemes),
a short timeout, a bounded body. Every failure is a `JwksError` with a sentence that names
the URL (an operator's setting, not a client's input) and the cause.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from api.jwks import JwksError
from config.settings import Settings
from config.urls import is_http_url

MAX_BODY_BYTES = 1024 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """urllib follows a redirect to ftp: too; the key set is fetched over http(s) only."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not is_http_url(newurl):
            raise JwksError(f"{req.full_url} redirects to a URL that is not http or https")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpRedirectsOnly)


@dataclass(frozen=True)
class Fetched:
    body: bytes
    cache_control: str | None


def fetch(url: str, *, timeout: float) -> Fetched:
    """GET `url`; the body and its Cache-Control header, or JwksError."""
    if not is_http_url(url):
        raise JwksError(f"{url!r} is not an http or https URL")
    # The process in the User-Agent: the issuer's log tells which api process fetched.
    agent = f"coach-jwks/0.1 (pid {os.getpid()})"
    headers = {"Accept": "application/json", "User-Agent": agent}
    request = urllib.request.Request(url, headers=headers)
    try:
        # http(s) only: the URL is checked above, and redirects by _HttpRedirectsOnly
        with _OPENER.open(request, timeout=timeout) as response:  # nosec B310
            body = response.read(MAX_BODY_BYTES + 1)
            cache_control = response.headers.get("Cache-Control")
    except urllib.error.HTTPError as exc:
        raise JwksError(f"GET {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise JwksError(f"GET {url} failed: {reason}") from None
    if len(body) > MAX_BODY_BYTES:
        raise JwksError(f"GET {url}: the body is over {MAX_BODY_BYTES} bytes")
    return Fetched(body, cache_control)


def discover_jwks_uri(issuer: str, *, timeout: float) -> str:
    """The `jwks_uri` of the issuer's OpenID Connect discovery document, whose `issuer`
    must be the configured one (OpenID Connect Discovery 1.0, section 4.3)."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    fetched = fetch(url, timeout=timeout)
    try:
        document = json.loads(fetched.body)
    except (ValueError, RecursionError):
        raise JwksError(f"GET {url}: not JSON") from None
    if not isinstance(document, dict):
        raise JwksError(f"GET {url}: not a discovery document")
    if document.get("issuer") != issuer:
        raise JwksError(f"GET {url}: its issuer is not {issuer!r}")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not is_http_url(jwks_uri):
        raise JwksError(f"GET {url}: no http(s) jwks_uri")
    return jwks_uri


class JwksSource:
    """Where the key set is: COACH_JWT_JWKS_URL, else the `jwks_uri` of COACH_JWT_ISSUER's
    discovery document (looked up on the first fetch that succeeds, then kept)."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.jwt_jwks_url
        self.issuer = settings.jwt_issuer
        self.timeout = settings.jwt_jwks_timeout_seconds

    def fetch(self) -> Fetched:
        if self.url is None:
            if self.issuer is None:
                raise JwksError("neither a key set URL nor an issuer is configured")
            self.url = discover_jwks_uri(self.issuer, timeout=self.timeout)
        return fetch(self.url, timeout=self.timeout)
