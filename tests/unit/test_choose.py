"""Choosing the WOD: a pure function over plain data and a random generator."""

from __future__ import annotations

import random
from datetime import date

import pytest

from wod.choose import MAX_TRIES_PER_PICK, choose_wod, daily_rng


def test_six_distinct_from_the_catalog_minus_yesterday():
    """The WOD has `size` distinct exercises, none of them done yesterday."""
    catalog = list(range(1, 41))
    done = {1, 2, 3, 4, 5}
    for seed in range(200):
        wod = choose_wod(catalog, done, random.Random(seed), 6)
        assert len(wod) == 6 and len(set(wod)) == 6
        assert not set(wod) & done and set(wod) <= set(catalog)


def test_fewer_when_fewer_remain():
    """Fewer than `size` remain: all of them, never an error."""
    assert sorted(choose_wod([1, 2, 3], {2}, random.Random(1), 6)) == [1, 3]
    assert choose_wod([1, 2], {1, 2}, random.Random(1), 6) == []
    assert choose_wod([], set(), random.Random(1), 6) == []


def test_every_remaining_exercise_can_be_drawn():
    """The draw is not stuck on a subset: over many draws each candidate appears."""
    seen = set()
    for seed in range(300):
        seen.update(choose_wod(list(range(20)), {0}, random.Random(seed), 6))
    assert seen == set(range(1, 20))


def test_same_day_same_wod():
    """Same user, day, catalog and history: the same generator, so the same WOD."""
    args = {
        "user_id": "7",
        "day": date(2026, 11, 27),
        "catalog_version": 3,
        "done_yesterday": {4, 2},
    }
    a = choose_wod(list(range(50)), set(), daily_rng(**args), 6)
    b = choose_wod(list(range(50)), set(), daily_rng(**{**args, "done_yesterday": {2, 4}}), 6)
    assert a == b


def test_wod_changes_with_user_day_catalog_or_history():
    """Another user, day, catalog version or history of yesterday gives another draw."""
    base = {"user_id": "7", "day": date(2026, 11, 27), "catalog_version": 3, "done_yesterday": {4}}
    wod = choose_wod(list(range(500)), set(), daily_rng(**base), 6)
    for change in [
        {"user_id": "8"},
        {"day": date(2026, 11, 28)},
        {"catalog_version": 4},
        {"done_yesterday": {4, 5}},
    ]:
        assert choose_wod(list(range(500)), set(), daily_rng(**{**base, **change}), 6) != wod


def test_the_inline_draw_is_randrange_draw_for_draw() -> None:
    """_by_rejection draws an index as CPython's `randrange(n)` does, without its checks:
    the same seed gives the same WOD as before (and in every replica)."""
    for seed in range(300):
        for n in (1, 2, 3, 7, 8, 9, 48, 64, 200, 1000, 4097):
            ours, theirs = random.Random(seed), random.Random(seed)
            for _ in range(20):
                index = ours.getrandbits(n.bit_length())
                while index >= n:
                    index = ours.getrandbits(n.bit_length())
                assert index == theirs.randrange(n)


def test_a_seeded_wod_is_the_one_randrange_draws() -> None:
    catalog = list(range(100, 300))
    done = frozenset(range(100, 140))
    for seed in range(200):
        expected: list[int] = []
        rng = random.Random(seed)
        while len(expected) < 6:
            exercise_id = catalog[rng.randrange(len(catalog))]
            if exercise_id not in done and exercise_id not in expected:
                expected.append(exercise_id)
        assert choose_wod(catalog, done, random.Random(seed), 6) == expected


@pytest.mark.parametrize(
    ("args", "first_bits", "wod"),
    [
        (
            {"user_id": "u-7", "day": date(2026, 12, 7), "catalog_version": 3, "done": {4, 2, 10}},
            8622510935140269637,
            [30, 7, 19, 36, 31, 29],
        ),
        (
            {"user_id": "1", "day": date(2026, 1, 1), "catalog_version": 0, "done": set()},
            14157697680608679593,
            [41, 4, 30, 38, 42, 19],
        ),
    ],
)
def test_the_daily_seed_is_pinned(args, first_bits, wod):
    """Golden values: a change to how the seed is derived (its fields, their order or
    separator, the digest) reshuffles every user's WOD of the day mid-day, in every replica
    that runs the new code; it must be a decision, not an accident."""
    done = args["done"]
    rng_args = {k: v for k, v in args.items() if k != "done"} | {"done_yesterday": done}
    assert daily_rng(**rng_args).getrandbits(64) == first_bits
    assert choose_wod(list(range(1, 49)), done, daily_rng(**rng_args), 6) == wod


class _AlwaysDone(random.Random):
    """Draws index 0 (a done exercise) forever, and counts the draws."""

    draws = 0
    draws_before_sample: int | None = None

    def getrandbits(self, k: int) -> int:
        self.draws += 1
        return 0

    def sample(self, population, k, *, counts=None):  # type: ignore[no-untyped-def]
        self.draws_before_sample = self.draws
        return super().sample(population, k)


def test_rejection_gives_up_after_four_draws_per_pick():
    """MAX_TRIES_PER_PICK draws per exercise wanted, then the remaining list is sampled."""
    assert MAX_TRIES_PER_PICK == 4
    rng = _AlwaysDone(1)
    picked = choose_wod(list(range(20)), {0}, rng, 6)
    assert rng.draws_before_sample == 4 * 6
    assert len(set(picked)) == 6 and 0 not in picked


@pytest.mark.parametrize(
    ("n", "done", "size", "wod"),
    [
        (12, set(), 6, [6, 3, 7, 11, 1, 2]),  # size * 2 == n: by rejection
        (10, set(), 6, [6, 3, 7, 10, 1, 8]),  # size * 2 > n: sampled
        (20, set(range(1, 15)), 6, [16, 19, 15, 17, 20, 18]),  # exactly `size` remain
        (20, set(range(1, 17)), 6, [19, 17, 18, 20]),  # fewer remain: all of them
    ],
)
def test_the_draw_at_the_edges_of_the_two_ways_is_pinned(n, done, size, wod):
    """Golden values where choose_wod switches between drawing by rejection and sampling the
    remaining list: both are uniform, but a seeded WOD must not change with the switch."""
    assert choose_wod(list(range(1, n + 1)), done, random.Random(7), size) == wod


def test_yesterday_may_be_any_iterable():
    """A list or a generator of ids works as a set does."""
    catalog = list(range(1, 49))
    expected = choose_wod(catalog, {3, 5}, random.Random(7), 6)
    assert choose_wod(catalog, [3, 5], random.Random(7), 6) == expected
    assert choose_wod(catalog, (i for i in (3, 5)), random.Random(7), 6) == expected
