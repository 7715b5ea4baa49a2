"""Which users a raw record names: for redacting what coach holds of an erased user. Pure.

A record that became a dead letter may be broken in any way, so this reads it leniently and
errs on the side of naming: its key (on the workouts and erasures topics, the user id; on
the exercises topic a misrouted workout may carry one too), the text of each of its
headers (a binary-mode event's `ce_subject`, or any header a producer adds), and, when the
value is a JSON object, its `data.user_id` (structured mode, escapes such as `\\u00f6`
decoded), the `user_id` of its `data_base64` (structured mode with binary data), its
`subject`, or its own `user_id` (binary mode: the value is the data). A value that does not
parse names no user by its content: it is matched by its key and headers only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Sequence
from typing import Any

import msgspec

_ANY = msgspec.json.Decoder()
MAX_NAME = 200
"""Longest text taken for a user id (the contract's limit)."""


def users_named(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> set[str]:
    """The user ids `key`, `value` and `headers` may be about, as text (the projection's
    form). More than the users a record is about (any header's text is taken): what it is
    used for is to find the erased users among them."""
    named: set[str] = set()
    for raw in (key, *(v for _, v in headers)):
        if raw is not None and len(raw) <= 4 * MAX_NAME:
            with contextlib.suppress(UnicodeDecodeError):
                named.add(raw.decode())
    named.update(_value_users(value))
    return named


def _value_users(value: bytes | None) -> set[str]:
    event = _json(value)
    if not isinstance(event, dict):
        return set()
    found = {_text(event.get("subject")), _text(event.get("user_id"))}
    data = event.get("data")
    if isinstance(data, dict):
        found.add(_text(data.get("user_id")))
    encoded = event.get("data_base64")
    if isinstance(encoded, str):
        with contextlib.suppress(binascii.Error, ValueError):
            inner = _json(base64.b64decode(encoded, validate=True))
            if isinstance(inner, dict):
                found.add(_text(inner.get("user_id")))
    found.discard(None)
    return found  # type: ignore[return-value]


def _json(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return _ANY.decode(raw)
    except msgspec.DecodeError:
        return None


def _text(user: Any) -> str | None:
    if isinstance(user, bool) or not isinstance(user, str | int):
        return None
    return user if isinstance(user, str) else str(user)
