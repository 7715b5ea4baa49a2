"""choose_wod's draw is uniform over the remaining exercises on both of its paths (drawing
from the whole catalog and skipping, or sampling the remaining list)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from wod.choose import choose_wod


@pytest.mark.parametrize(
    "catalog_size,done_size,size",
    [
        (200, 5, 6),  # the usual case: drawn from the whole catalog
        (200, 0, 6),
        (12, 2, 6),  # few remain: the remaining list is sampled
        (8, 2, 6),
    ],
)
def test_every_remaining_exercise_is_equally_likely_in_every_position(
    catalog_size, done_size, size
):
    catalog = list(range(catalog_size))
    done = set(range(0, 2 * done_size, 2))
    remaining = [e for e in catalog if e not in done]
    rng = random.Random(2026)
    draws = 20_000
    first = Counter()
    anywhere = Counter()
    for _ in range(draws):
        wod = choose_wod(catalog, done, rng, size)
        assert len(wod) == min(size, len(remaining)) and len(set(wod)) == len(wod)
        assert not set(wod) & done
        first[wod[0]] += 1
        anywhere.update(wod)
    expected_first = draws / len(remaining)
    expected_anywhere = draws * min(size, len(remaining)) / len(remaining)
    # Generous bounds (about 5 standard deviations): the test pins bias, not noise.
    for exercise in remaining:
        assert abs(first[exercise] - expected_first) < 5 * expected_first**0.5 + 5
        assert abs(anywhere[exercise] - expected_anywhere) < 5 * expected_anywhere**0.5 + 5


def test_done_ids_outside_the_catalog_change_nothing():
    """History may name exercises deleted since: they are simply not candidates."""
    catalog = list(range(100))
    wod = choose_wod(catalog, {1000, 1001, 5}, random.Random(1), 6)
    assert len(wod) == 6 and 5 not in wod


def test_the_same_generator_state_gives_the_same_wod():
    catalog = list(range(200))
    assert choose_wod(catalog, {3}, random.Random(9), 6) == choose_wod(
        catalog, {3}, random.Random(9), 6
    )
