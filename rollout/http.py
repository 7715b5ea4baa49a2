"""The rollout tools' one way to open a URL: http and https only.

The URLs come from an operator's flags or nginx's rendered configuration; urllib would also
open file: and custom schemes, which a mistyped or planted URL must never reach.
"""

from __future__ import annotations

import urllib.request
from http.client import HTTPResponse

SCHEMES = ("http", "https")


def open_http(request: urllib.request.Request, *, timeout: float) -> HTTPResponse:
    """`urlopen` for an http(s) URL; ValueError for any other scheme."""
    if request.type not in SCHEMES:
        raise ValueError(f"only http and https URLs are allowed, not {request.type}:")
    response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout)  # nosec B310
    return response
