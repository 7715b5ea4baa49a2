"""What the canary asks besides the access log: nginx's rendered configuration (which
replicas, which percentage), each coach replica's /ready and /lag, Prometheus' alerts.

The parsing is pure; the HTTP calls use the standard library with short timeouts, and a
replica that does not answer is reported as not ready, never raised.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from rollout.analysis import Replica
from rollout.http import open_http

_UPSTREAM_COACH = re.compile(r"^\s*upstream\s+coach\s*\{(?P<body>.*?)\}", re.M | re.S)
_SERVER = re.compile(r"^\s*server\s+([^\s;]+)", re.M)
_PERCENT = re.compile(r'"~\^bx\{(\d+)\}"')


def coach_urls_from_conf(text: str) -> list[str]:
    """The coach replicas of a rendered coach.conf, as base URLs."""
    match = _UPSTREAM_COACH.search(text)
    if match is None:
        return []
    return [f"http://{server}" for server in _SERVER.findall(match["body"])]


def percent_from_conf(text: str) -> int | None:
    """COACH_PERCENT as rendered in a coach.conf (None: not a rendered template)."""
    match = _PERCENT.search(text)
    return None if match is None else int(match.group(1))


def _get_json(url: str, timeout: float) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with open_http(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"null")
        except ValueError:
            body = None
        return exc.code, body


def probe_replica(url: str, *, timeout: float = 2.0) -> Replica:
    """One replica's /ready and /lag."""
    base = url.rstrip("/")
    try:
        status, ready = _get_json(f"{base}/ready", timeout)
    except (OSError, ValueError) as exc:
        return Replica(url, False, f"/ready did not answer: {exc}")
    if status != 200:
        failing = ready.get("failing") if isinstance(ready, dict) else None
        return Replica(url, False, f"/ready {status}: {failing or ready}")
    lag: int | None = None
    age: float | None = None
    try:
        status, body = _get_json(f"{base}/lag", timeout)
        if status == 200 and isinstance(body, dict):
            lag = body.get("total_lag")
            age = body.get("data_age_seconds")
    except (OSError, ValueError):
        pass  # /ready said yes; lag and data age are then unknown for this replica
    return Replica(url, True, "ready", lag_records=lag, data_age_seconds=age)


def firing_alerts(prometheus_url: str, *, timeout: float = 3.0) -> list[str]:
    """Names of the alerts firing with label service="coach" (GET /api/v1/alerts).
    Raises OSError or ValueError when Prometheus cannot be asked."""
    status, body = _get_json(f"{prometheus_url.rstrip('/')}/api/v1/alerts", timeout)
    if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
        raise ValueError(f"Prometheus answered {status}: {str(body)[:200]}")
    return sorted(
        str(a.get("labels", {}).get("alertname", "?"))
        for a in body["data"]["alerts"]
        if a.get("state") == "firing" and a.get("labels", {}).get("service") == "coach"
    )
