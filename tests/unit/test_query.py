"""The WOD's query string (api/query.py): the rules FastAPI would apply, read directly."""

from __future__ import annotations

import contextlib

import pytest

from api.query import QueryError, WodQuery, parse_wod_query


@pytest.mark.parametrize(
    "query,expected",
    [
        (b"", WodQuery(None, False)),
        (b"tz=Asia%2FTokyo", WodQuery("Asia/Tokyo", False)),
        (b"tz=Asia/Tokyo&fresh=true", WodQuery("Asia/Tokyo", True)),
        (b"fresh=1", WodQuery(None, True)),
        (b"fresh=YES", WodQuery(None, True)),
        (b"fresh=off", WodQuery(None, False)),
        (b"fresh=true&fresh=false", WodQuery(None, False)),  # the last one wins
        (b"tz=UTC&tz=Europe/Berlin", WodQuery("Europe/Berlin", False)),
        (b"tz=", WodQuery("", False)),  # empty: not a zone (the route answers 422)
        (b"utm_source=mail&_=1700000000", WodQuery(None, False)),  # unknown: ignored
        (b"tz=UTC%00", WodQuery("UTC\x00", False)),  # decoded; the zone check refuses it
    ],
)
def test_parameters_are_read_as_documented(query, expected):
    assert parse_wod_query(query) == expected


@pytest.mark.parametrize(
    "query,name",
    [
        (b"fresh=maybe", "fresh"),
        (b"fresh=", "fresh"),
        (b"fresh=2", "fresh"),
        (b"tz=" + b"x" * 65, "tz"),
        (b"tz=" + b"%C3%A9" * 65, "tz"),  # 65 characters, 130 bytes
    ],
)
def test_malformed_parameters_are_errors_naming_the_parameter(query, name):
    with pytest.raises(QueryError) as raised:
        parse_wod_query(query)
    assert raised.value.name == name


def test_any_bytes_parse_or_fail_cleanly():
    """Invalid UTF-8, stray % signs, NULs: a WodQuery or a QueryError, never a crash."""
    for query in (b"%ff%fe=1", b"tz=%", b"tz=%zz", b"\xff\x00=&&==&", b"&" * 1000):
        with contextlib.suppress(QueryError):
            parse_wod_query(query)
