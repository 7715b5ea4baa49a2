"""bench/loop_starvation.py's own logic: the probe's figures and the refused arguments (a
wrong figure here would misname the cause of the tail)."""

from __future__ import annotations

import argparse

import pytest

from bench.loop_starvation import check_arguments
from bench.loop_starvation_probe import analyse


def test_probe_counts_each_connection_once_all_are_accepted():
    """Accepts spread over 2 s; only reads after the last accept plus `settle` count."""
    accepted = {"1": 10.0, "2": 10.001, "3": 12.0, "4": 10.002}
    reads = {
        "1": [10.1, 12.6, 12.7, 12.8],
        "2": [10.1, 12.6],
        "3": [12.01, 12.6, 12.9],
        "4": [],  # the check that the server listens: no request
    }
    result = analyse(accepted, reads, settle=0.5)
    assert result["connections"] == 3
    assert result["accepted_over_ms"] == 2000.0
    assert result["accepted_at_ms"] == [0, 1, 2000]
    assert result["steady_requests_per_connection"] == {"min": 1, "p10": 1, "median": 2, "max": 3}
    assert result["steady_seconds"] == 0.4


def _args(**changes: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "seconds": 6,
        "connections": 100,
        "work_us": 200,
        "late": 10,
        "loops": "uvloop,asyncio",
        "variants": "plain,yield",
        "probe": False,
        "via": "direct",
        "nginx_keepalive": "32",
    }
    return argparse.Namespace(**(values | changes))


def test_the_defaults_are_accepted():
    assert check_arguments(_args()) == []


@pytest.mark.parametrize(
    "changes,named",
    [
        ({"loops": "uvloop,libuv"}, "--loops"),
        ({"variants": "plain,fast"}, "--variants"),
        ({"late": 100}, "--late"),
        ({"late": -1}, "--late"),
        ({"connections": 0}, "--connections"),
        ({"probe": True, "variants": "h11"}, "--probe"),
        ({"via": "nginx", "nginx_keepalive": "32,lots"}, "--nginx-keepalive"),
    ],
)
def test_bad_arguments_are_named(changes, named):
    """Each refused argument is named, before any process starts."""
    problems = check_arguments(_args(**changes))
    assert any(named in problem for problem in problems), problems
