"""Parsing nginx's coach_routing access log lines (rollout/access_log.py)."""

from __future__ import annotations

import pytest

from rollout.access_log import Request, parse_line


def line(fields: str, request: str = "GET /fitness/wod HTTP/1.1") -> str:
    return f'2026-11-28T19:24:10+00:00 10.0.0.7 "{request}" {fields} request_id=abc'


def test_coach_answered():
    """A coach user answered by coach: its status and time are the first try's."""
    got = parse_line(
        line(
            "status=200 side=coach served_by=coach upstream=10.0.1.5:8000 "
            "upstream_status=200 request_time=0.004 upstream_time=0.003"
        )
    )
    assert got == Request("coach", 200, False, 200, 0.003)
    assert not got.first_failed


def test_a_fallback_is_coach_failing_then_the_monolith():
    """upstream_status "502 : 200": coach's try failed, the monolith answered."""
    got = parse_line(
        line(
            "status=200 side=coach served_by=legacy_fallback "
            "upstream=10.0.1.5:8000 : 10.0.2.9:8080 upstream_status=502 : 200 "
            "request_time=0.912 upstream_time=0.004 : 0.908"
        )
    )
    assert got == Request("coach", 200, True, 502, 0.004)
    assert got.first_failed


def test_a_fallback_without_served_by_is_found_by_its_second_group():
    got = parse_line(
        line("status=200 side=coach upstream_status=504 : 200 upstream_time=2.001 : 0.3")
    )
    assert got is not None and got.fallback and got.first_status == 504


def test_a_replica_skipped_is_a_failed_first_try_but_coach_answered():
    """ "503, 200": the first replica was not ready, the next answered: two tries, the
    first failed, but coach as a whole answered (no error, no fallback)."""
    got = parse_line(
        line(
            "status=200 side=coach served_by=coach upstream=a:1, b:2 "
            "upstream_status=503, 200 request_time=0.01 upstream_time=0.001, 0.008"
        )
    )
    assert got == Request("coach", 200, False, 503, 0.001, (503, 200))
    assert got.first_failed and got.answered and got.tries == 2


@pytest.mark.parametrize(
    ("upstream_status", "answered"),
    [("502, 503 : 200", False), ("-, 200", True), ("200", True), ("502 : 200", False)],
)
def test_coach_failed_when_the_last_replica_tried_failed(upstream_status: str, answered: bool):
    """Every replica tried failing (then the monolith answered) is coach's failure; the last
    one answering is not."""
    got = parse_line(line(f"status=200 side=coach upstream_status={upstream_status}"))
    assert got is not None and got.answered is answered


def test_no_answer_at_all_counts_as_failed():
    """A status nginx could not get ("-") is a failure, its time unknown."""
    got = parse_line(
        line("status=502 side=legacy served_by=legacy upstream_status=- upstream_time=-")
    )
    assert got == Request("legacy", 502, False, None, None)
    assert got.first_failed


def test_the_monolith_side():
    got = parse_line(
        line(
            "status=200 side=legacy served_by=legacy upstream=10.0.2.9:8080 "
            "upstream_status=200 request_time=0.4 upstream_time=0.398"
        )
    )
    assert got == Request("legacy", 200, False, 200, 0.398)


def test_a_query_string_is_still_the_wod():
    got = parse_line(
        line(
            "status=200 side=coach served_by=coach upstream_status=200 upstream_time=0.002",
            request="GET /fitness/wod?tz=Europe/Paris HTTP/1.1",
        )
    )
    assert got is not None and got.side == "coach"


@pytest.mark.parametrize(
    "text",
    [
        line("status=200 side=legacy served_by=legacy upstream_status=200", "GET /other HTTP/1.1"),
        line(
            "status=200 side=coach served_by=coach upstream_status=200",
            "GET /fitness/wodx HTTP/1.1",
        ),
        line("status=200 side= served_by=coach upstream_status=200"),
        line("side=coach served_by=coach upstream_status=200"),
        "2026/11/28 19:24:10 [notice] 12#12: signal process started",
        "",
        "garbage \x00 line",
    ],
)
def test_anything_else_is_skipped(text: str):
    """Other paths, lines without a side or status, nginx's own messages: not requests."""
    assert parse_line(text) is None


def test_unknown_fields_are_ignored():
    """A field added to the format later (before or after ours) changes nothing."""
    got = parse_line(
        line(
            "status=200 shadow=1 side=coach served_by=coach upstream_status=200 "
            "upstream_time=0.002 extra=x"
        )
    )
    assert got == Request("coach", 200, False, 200, 0.002)


@pytest.mark.parametrize("status", [400, 404, 414, 431])
def test_a_request_nginx_refused_itself_is_no_side_s(status: int):
    """A malformed request nginx answers 4xx before any upstream (upstream=-): neither
    coach's nor the monolith's, so not a coach failure (the rehearsal's hostile clients made
    the canary roll back at 100 % with these)."""
    refused = line(
        f"status={status} side=coach served_by= upstream=- upstream_status=- "
        "request_time=0.000 upstream_time=-"
    )
    assert parse_line(refused) is None


def test_no_upstream_at_all_with_a_5xx_is_still_coach_failing():
    """nginx's own 502 when no upstream could be tried is a failure, not a refusal."""
    got = parse_line(
        line("status=502 side=coach served_by= upstream=- upstream_status=- request_time=0.0")
    )
    assert got is not None and not got.answered
