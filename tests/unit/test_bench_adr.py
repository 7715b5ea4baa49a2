"""The ADR baseline's own logic (bench/adr_service.py): it must pick the suggestions by
coach's rule, or the benchmark would compare two different answers."""

from __future__ import annotations

from bench.adr_service import history_of, latest_performances
from store.reads import Performance


def test_history_of_the_monolith_answer_is_oldest_first():
    recent = history_of([[300, [[1, 3, 8, 60.0]]], [100, [[2, 3, 5, 20.0], [1, 3, 6, 50.0]]]])
    assert [at for at, _ in recent.workouts] == [100, 300]
    assert recent.done_between(100, 200) == {1, 2}


def test_newest_performance_wins_between_the_window_and_the_folded_rows():
    recent = history_of([[200, [[1, 3, 8, 60.0], [1, 2, 6, 62.5]]], [100, [[2, 3, 5, 20.0]]]])
    folded = [[1, 150, 55.0, 10], [2, 150, 25.0, 12], [3, 50, 10.0, 15], [4, 50, 1.0, 1]]
    assert latest_performances(recent, folded, [1, 2, 3, 5]) == {
        1: Performance(62.5, 6),  # the window's is newer; its last entry
        2: Performance(25.0, 12),  # the folded row is newer
        3: Performance(10.0, 15),  # only folded
    }


def test_on_a_tie_the_window_wins_as_in_the_store():
    recent = history_of([[100, [[1, 3, 8, 60.0]]]])
    assert latest_performances(recent, [[1, 100, 40.0, 5]], [1]) == {1: Performance(60.0, 8)}
