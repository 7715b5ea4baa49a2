"""Which users a raw record names: for redacting what coach holds of an erased user. Pure.

A record that became a dead letter may be broken in any way, so this reads it leniently:
its key (on the workouts topic, the user id; on the exercises topic a misrouted workout
may carry one too) and, when the value is a JSON object, its `data.user_id` (structured
mode) or its own `user_id` (binary mode: the value is the data). A value that
does not parse names no user by its content: it is matched by its key only.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec

_ANY = msgspec.json.Decoder()


def users_named(key: bytes | None, value: bytes | None) -> set[str]:
    """The user ids `key` and `value` may be about, as text (the projection's form)."""
    named: set[str] = set()
    if key is not None:
        with contextlib.suppress(UnicodeDecodeError):
            named.add(key.decode())
    user = _data_user_id(value)
    if user is not None:
        named.add(user)
    return named


def _data_user_id(value: bytes | None) -> str | None:
    if not value:
        return None
    try:
        event: Any = _ANY.decode(value)
    except msgspec.DecodeError:
        return None
    if not isinstance(event, dict):
        return None
    data = event.get("data")
    user = data.get("user_id") if isinstance(data, dict) else event.get("user_id")
    if isinstance(user, bool) or not isinstance(user, str | int):
        return None
    return user if isinstance(user, str) else str(user)
