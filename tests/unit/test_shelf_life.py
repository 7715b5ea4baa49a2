"""When a projection's position in the compacted exercises topic may have outlived the
topic's tombstones (consumer/shelf_life.py `outlived`). Pure."""

from __future__ import annotations

from consumer.shelf_life import MARGIN_US, outlived

DAY_MS = 86_400_000
NOW = 1_800_000_000_000_000


def test_a_projection_caught_up_within_the_tombstones_lifetime_reads_on():
    """Caught up an hour ago, tombstones kept a day: no tombstone can be gone yet."""
    assert not outlived(NOW - 3_600_000_000, NOW, DAY_MS)


def test_one_caught_up_longer_ago_than_the_lifetime_less_the_margin_reads_again():
    """At the lifetime less the margin and beyond, a tombstone written just after may be
    gone: the topic is read again."""
    lifetime_us = DAY_MS * 1000
    assert outlived(NOW - (lifetime_us - MARGIN_US), NOW, DAY_MS)
    assert not outlived(NOW - (lifetime_us - MARGIN_US) + 1, NOW, DAY_MS)
    assert outlived(NOW - 8 * lifetime_us, NOW, DAY_MS)  # a week-old snapshot


def test_one_never_known_caught_up_reads_again():
    """No stamp (a file from before the stamp, or never caught up): read again."""
    assert outlived(None, NOW, DAY_MS)


def test_tombstones_kept_less_than_the_margin_always_read_again():
    assert outlived(NOW, NOW, 1000)
