"""URL checks shared by the settings and the services that open those URLs."""

from __future__ import annotations

import urllib.parse

SCHEMES = ("http", "https")


def is_http_url(url: str | None) -> bool:
    """An absolute http(s) URL with a host (urllib would also open file: and other schemes)."""
    if not url:
        return False
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in SCHEMES and bool(parts.hostname)
