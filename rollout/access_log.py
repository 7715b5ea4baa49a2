"""nginx's access log, as the canary reads it: one `coach_routing` line per request
(deploy/nginx/coach.conf.template), parsed into what the analysis needs, and read
incrementally from a remembered position.

A line looks like this (a fallback: coach's replica answered 502, the monolith 200):

    2026-11-28T19:24:10+00:00 10.0.0.7 "GET /fitness/wod HTTP/1.1" status=200 side=coach
    served_by=legacy_fallback upstream=10.0.1.5:8000 : 10.0.2.9:8080 upstream_status=502 : 200
    request_time=0.912 upstream_time=0.004 : 0.908 request_id=...

In `upstream`, `upstream_status` and `upstream_time`, a " : " separates the location's
upstream group from the next one (the fallback to the monolith) and ", " separates the
replicas tried within a group. Only `/fitness/wod` requests count; anything else in the file
(other paths, nginx's own error lines, unknown fields added later) is skipped or ignored.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

WOD_PATH = "/fitness/wod"
_REQUEST = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+)[^"]*" (?P<rest>.*)$')
_FIELD = re.compile(r"(\w+)=(.*?)(?= \w+=|$)")


@dataclass(frozen=True)
class Request:
    """One /fitness/wod request as nginx logged it."""

    side: str  # "coach" or "legacy": the user's bucket side
    status: int  # what the client got
    fallback: bool  # coach's side, answered by the monolith after coach failed
    first_status: int | None  # the first upstream's status (None: no answer, "-")
    first_time: float | None  # the first upstream's response time, seconds
    # Every upstream tried in the first group, in order ("503, 200": a replica skipped,
    # the next one answered); empty: only the first, first_status.
    statuses: tuple[int | None, ...] = ()

    @property
    def tries(self) -> int:
        """Upstreams tried in the first group (coach's replicas, or the monolith)."""
        return len(self.statuses) or 1

    @property
    def answered(self) -> bool:
        """The last upstream tried in the first group answered (not a 5xx, not silent): a
        replica skipped for another that answered is not a failure of coach as a whole."""
        last = self.statuses[-1] if self.statuses else self.first_status
        return last is not None and last < 500

    @property
    def first_failed(self) -> bool:
        """The first upstream tried failed: 5xx, or no status at all (nginx logs 502/504)."""
        return self.first_status is None or self.first_status >= 500


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _first(value: str) -> str:
    """The first attempt of an `upstream_*` value: before any " : " and any ", "."""
    return value.split(" : ", 1)[0].split(", ", 1)[0].strip()


def parse_line(line: str) -> Request | None:
    """A /fitness/wod request, or None for anything else (another path, a line that is not
    the coach_routing format, a request nginx itself refused with a 4xx before any upstream:
    neither side's)."""
    match = _REQUEST.search(line)
    if match is None:
        return None
    if match["target"].split("?", 1)[0] != WOD_PATH:
        return None
    fields = {m.group(1): m.group(2).strip() for m in _FIELD.finditer(match["rest"])}
    side = fields.get("side")
    status = _number(fields.get("status", ""))
    if side not in ("coach", "legacy") or status is None:
        return None
    upstream_status = fields.get("upstream_status", "-")
    if upstream_status == "-" and status < 500:
        return None  # nginx refused it (a malformed request) before choosing an upstream
    served_by = fields.get("served_by", "")
    fallback = served_by == "legacy_fallback" or (not served_by and " : " in upstream_status)
    first_status = _number(_first(upstream_status))
    group = [_number(v.strip()) for v in upstream_status.split(" : ", 1)[0].split(", ")]
    return Request(
        side=side,
        status=int(status),
        fallback=side == "coach" and fallback,
        first_status=None if first_status is None else int(first_status),
        first_time=_number(_first(fields.get("upstream_time", "-"))),
        statuses=tuple(None if v is None else int(v) for v in group) if len(group) > 1 else (),
    )


# -- reading on from a position ----------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where reading stopped: the file's inode and a byte offset at a line's start."""

    inode: int
    offset: int


@dataclass(frozen=True)
class Chunk:
    lines: list[str]
    end: Position  # the position after the last whole line read
    note: str | None  # why reading started over from the start (rotated, truncated)


def read_from(path: Path, start: Position | None) -> Chunk:
    """The whole lines of `path` from `start` (None: the file's end, nothing read).

    The file was rotated (another inode at the path) or truncated (shorter than `start`):
    read the new file from its beginning, and say so. A partial last line (nginx writing it)
    is left for the next read. A missing file reads as empty at offset 0.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return Chunk([], Position(0, 0), f"{path} does not exist (yet)")
    with os.fdopen(fd, "rb") as f:
        stat = os.fstat(f.fileno())
        if start is None:
            return Chunk([], Position(stat.st_ino, stat.st_size), None)
        note = None
        offset = start.offset
        if stat.st_ino != start.inode:
            note, offset = f"{path} was rotated: reading the new file from its start", 0
        elif stat.st_size < start.offset:
            note, offset = f"{path} was truncated: reading it from its start", 0
        f.seek(offset)
        data = f.read()
    whole = data[: data.rfind(b"\n") + 1]
    lines = whole.decode("utf-8", errors="replace").splitlines()
    return Chunk(lines, Position(stat.st_ino, offset + len(whole)), note)
