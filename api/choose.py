"""Choosing the workout of the day. Pure: plain data and an injected random generator."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from datetime import date


def choose_wod(
    catalog: Sequence[int], done_yesterday: Iterable[int], rng: random.Random, size: int
) -> list[int]:
    """`size` distinct exercise ids from `catalog` minus `done_yesterday`, in drawn order.

    Fewer when fewer remain (an empty list when none do); never an error.
    """
    done = set(done_yesterday)
    remaining = [exercise_id for exercise_id in catalog if exercise_id not in done]
    return rng.sample(remaining, min(size, len(remaining)))


def daily_rng(
    *, user_id: str, day: date, catalog_version: int, done_yesterday: Iterable[int]
) -> random.Random:
    """A generator seeded so the WOD stays the same for a user through their day, while the
    catalog and their history of yesterday stay the same."""
    done = ",".join(str(i) for i in sorted(done_yesterday))
    seed = f"{user_id}\x1f{day.isoformat()}\x1f{catalog_version}\x1f{done}".encode()
    return random.Random(hashlib.blake2b(seed, digest_size=16).digest())
