"""The WOD's query string (api/query.py): the rules FastAPI would apply, read directly."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    "query,expected",
    [
        (b"%ff%fe=1", WodQuery(None, False)),  # a name that is neither: ignored
        (b"tz=%", WodQuery("%", False)),  # a stray % is kept as it is
        (b"tz=%zz", WodQuery("%zz", False)),
        (b"tz=%ff", WodQuery("\ufffd", False)),  # invalid UTF-8: the replacement character
        (b"\xff\x00=&&==&", WodQuery(None, False)),
        (b"&" * 1000, WodQuery(None, False)),
        (b"fresh=%00", QueryError),  # a NUL is not a boolean
    ],
)
def test_any_bytes_parse_or_fail_cleanly(query, expected):
    """Invalid UTF-8, stray % signs, NULs: the WodQuery they spell, or a QueryError naming
    the parameter; never another exception."""
    if expected is QueryError:
        with pytest.raises(QueryError) as raised:
            parse_wod_query(query)
        assert (raised.value.name, raised.value.kind) == ("fresh", "bool_parsing")
    else:
        assert parse_wod_query(query) == expected


def test_a_tz_of_exactly_the_limit_is_accepted():
    """TZ_MAX_LENGTH characters pass; one more is refused (the edge of the check)."""
    assert parse_wod_query(b"tz=" + b"x" * 64) == WodQuery("x" * 64, False)
    with pytest.raises(QueryError) as raised:
        parse_wod_query(b"tz=" + b"x" * 65)
    assert (raised.value.kind, str(raised.value)) == ("string_too_long", "at most 64 characters")
