"""What the canary asks besides the access log: nginx's rendered configuration (which
replicas, which percentage), each coach replica's /ready and /lag, Prometheus' alerts.

The parsing is pure; the HTTP calls use the standard library, and a replica that does not
answer is reported as not ready, never raised. One analysis asks every replica and
Prometheus at once and waits for them at most `probe_timeout(analysis interval)`: a hung
replica (a stopped process keeps its socket open and never answers) delays an analysis by
that much and no more, which the rollback bound counts (docs/RUNBOOK.md, "Rollback bound").
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_all
from dataclasses import dataclass
from typing import Any

from rollout.analysis import Replica
from rollout.http import open_http

_UPSTREAM_COACH = re.compile(r"^\s*upstream\s+coach\s*\{(?P<body>.*?)\}", re.M | re.S)
_SERVER = re.compile(r"^\s*server\s+([^\s;]+)", re.M)
_PERCENT = re.compile(r'"~\^bx\{(\d+)\}"')
PROBE_TIMEOUT_MAX = 2.0


def probe_timeout(analysis_seconds: float) -> float:
    """How long one analysis waits for the replicas and Prometheus: 2 s, or half the
    analysis interval when that is shorter."""
    return min(PROBE_TIMEOUT_MAX, analysis_seconds / 2)


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


def probe_replica(url: str, *, timeout: float = PROBE_TIMEOUT_MAX) -> Replica:
    """One replica's /ready and /lag, both within `timeout` seconds."""
    base = url.rstrip("/")
    deadline = time.monotonic() + timeout
    try:
        status, ready = _get_json(f"{base}/ready", timeout)
    except (OSError, ValueError) as exc:
        if isinstance(getattr(exc, "reason", exc), TimeoutError):
            return Replica(url, False, f"/ready did not answer within {timeout:g} s")
        return Replica(url, False, f"/ready did not answer: {exc}")
    if status != 200:
        failing = ready.get("failing") if isinstance(ready, dict) else None
        return Replica(url, False, f"/ready {status}: {failing or ready}")
    lag: int | None = None
    age: float | None = None
    left = deadline - time.monotonic()
    try:
        if left > 0:
            status, body = _get_json(f"{base}/lag", left)
            if status == 200 and isinstance(body, dict):
                lag = body.get("total_lag")
                age = body.get("data_age_seconds")
    except (OSError, ValueError):
        pass  # /ready said yes; lag and data age are then unknown for this replica
    return Replica(url, True, "ready", lag_records=lag, data_age_seconds=age)


@dataclass(frozen=True)
class Probed:
    """What one analysis learnt besides the access log."""

    replicas: list[Replica]
    alerts: list[str] | None  # None: Prometheus not asked, or it could not be
    alerts_error: str | None = None


def probe_all(urls: list[str], prometheus_url: str | None, *, timeout: float) -> Probed:
    """Every replica and Prometheus at once; whatever has not answered `timeout` seconds
    later counts as not answering (a replica: not ready; Prometheus: an error)."""
    pool = ThreadPoolExecutor(max_workers=len(urls) + 1, thread_name_prefix="canary-probe")
    try:
        asked = [pool.submit(probe_replica, url, timeout=timeout) for url in urls]
        pending: list[Future[Any]] = list(asked)
        alerts_asked: Future[list[str]] | None = None
        if prometheus_url:
            alerts_asked = pool.submit(firing_alerts, prometheus_url, timeout=timeout)
            pending.append(alerts_asked)
        wait_for_all(pending, timeout=timeout + 0.1)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    replicas = [
        f.result()
        if f.done()
        else Replica(url, False, f"/ready did not answer within {timeout:g} s")
        for url, f in zip(urls, asked, strict=True)
    ]
    if alerts_asked is None:
        return Probed(replicas, None)
    if not alerts_asked.done():
        return Probed(replicas, None, f"Prometheus did not answer within {timeout:g} s")
    try:
        return Probed(replicas, alerts_asked.result())
    except (OSError, ValueError) as exc:
        return Probed(replicas, None, f"Prometheus could not be asked within {timeout:g} s: {exc}")


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
