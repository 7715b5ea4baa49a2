"""The query of GET /fitness/wod, read straight from the query string. Pure.

FastAPI's own parameter handling costs more than choosing the WOD, so the route reads its
two parameters here (with the same rules: the last value of a repeated parameter wins,
booleans spelled as pydantic spells them) and documents them in its OpenAPI operation.
Unknown parameters are ignored.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qsl

TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
TZ_MAX_LENGTH = 64


class WodQuery(NamedTuple):
    tz: str | None
    fresh: bool


class QueryError(ValueError):
    """A parameter is malformed; `name` says which."""

    def __init__(self, name: str, message: str, kind: str) -> None:
        super().__init__(message)
        self.name = name
        self.kind = kind


NO_QUERY = WodQuery(None, False)


def parse_wod_query(query_string: bytes) -> WodQuery:
    if not query_string:
        return NO_QUERY
    tz: str | None = None
    fresh = False
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name == "tz":
            if len(value) > TZ_MAX_LENGTH:
                raise QueryError("tz", f"at most {TZ_MAX_LENGTH} characters", "string_too_long")
            tz = value
        elif name == "fresh":
            spelled = value.lower()
            if spelled in TRUE:
                fresh = True
            elif spelled in FALSE:
                fresh = False
            else:
                raise QueryError("fresh", "must be true or false", "bool_parsing")
    return WodQuery(tz, fresh)
