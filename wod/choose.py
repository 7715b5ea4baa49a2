"""Choosing the workout of the day. Pure: plain data and an injected random generator."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from datetime import date

MAX_TRIES_PER_PICK = 4


def choose_wod(
    catalog: Sequence[int], done_yesterday: Iterable[int], rng: random.Random, size: int
) -> list[int]:
    """`size` distinct exercise ids from `catalog` minus `done_yesterday`, in drawn order.

    Fewer when fewer remain (an empty list when none do); never an error. Every ordered
    choice of `size` of the remaining exercises is equally likely.
    """
    done = done_yesterday if isinstance(done_yesterday, set | frozenset) else set(done_yesterday)
    picked = _by_rejection(catalog, done, rng, size)
    if picked is not None:
        return picked
    remaining = [exercise_id for exercise_id in catalog if exercise_id not in done]
    return rng.sample(remaining, min(size, len(remaining)))


def _by_rejection(
    catalog: Sequence[int], done: set[int] | frozenset[int], rng: random.Random, size: int
) -> list[int] | None:
    """Draw from the whole catalog and skip what is done or already picked: no list of the
    remaining exercises to build. Each pick is uniform over what is left, so the result is
    as uniform as `sample`'s. None when it takes too many draws (few remain): the caller
    then samples the remaining list, which keeps the result uniform, since how many draws
    it takes does not depend on which exercises were picked."""
    n = len(catalog)
    if size > n - len(done) or size * 2 > n:
        return None
    picked: list[int] = []
    seen: set[int] = set()
    getrandbits, bits = rng.getrandbits, n.bit_length()
    for _ in range(MAX_TRIES_PER_PICK * size):
        index = getrandbits(bits)  # rng.randrange(n), as CPython draws it, without its
        while index >= n:  # Python-level argument checks (tests/unit/test_choose.py)
            index = getrandbits(bits)
        exercise_id = catalog[index]
        if exercise_id in done or exercise_id in seen:
            continue
        picked.append(exercise_id)
        if len(picked) == size:
            return picked
        seen.add(exercise_id)
    return None


def daily_rng(
    *, user_id: str, day: date, catalog_version: int, done_yesterday: Iterable[int]
) -> random.Random:
    """A generator seeded so the WOD stays the same for a user through their day, while the
    catalog and their history of yesterday stay the same (and the same in every process:
    the seed is a digest, not Python's per-process `hash`)."""
    done = ",".join(map(str, sorted(done_yesterday)))
    seed = f"{user_id}\x1f{day.isoformat()}\x1f{catalog_version}\x1f{done}".encode()
    return random.Random(int.from_bytes(hashlib.blake2b(seed, digest_size=16).digest()))


def fresh_rng() -> random.Random:
    """A generator for a new draw (`fresh=true`), seeded from the system's entropy."""
    return random.Random()
