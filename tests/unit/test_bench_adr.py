"""The ADR baseline's own logic (bench/adr_service.py): it must pick the suggestions by
coach's rule, or the benchmark would compare two different answers."""

from __future__ import annotations

from bench.adr_service import history_of, latest_performances
from wod.suggestion import Performance


def test_history_of_the_monolith_answer_is_oldest_first():
    recent = history_of(
        [[300, "b", 0, [[1, 3, 8, 60.0]]], [100, "a", 0, [[2, 3, 5, 20.0], [1, 3, 6, 50.0]]]]
    )
    assert [w.completed_at_us for w in recent.workouts] == [100, 300]
    assert recent.done_between(100, 200) == {1, 2}


def test_newest_performance_wins_between_the_window_and_the_folded_rows():
    recent = history_of(
        [[200, "b", 0, [[1, 3, 8, 60.0], [1, 2, 6, 62.5]]], [100, "a", 0, [[2, 3, 5, 20.0]]]]
    )
    folded = [
        [1, 150, "x", 3, 10, 55.0, 0],
        [2, 150, "x", 3, 12, 25.0, 0],
        [3, 50, "y", 3, 15, 10.0, 0],
        [4, 50, "y", 3, 1, 1.0, 0],
    ]
    assert latest_performances(recent, folded, [1, 2, 3, 5]) == {
        1: Performance(62.5, 6),  # the window's is newer; its last entry
        2: Performance(25.0, 12),  # the folded row is newer
        3: Performance(10.0, 15),  # only folded
    }


def test_a_deleted_newest_brings_the_one_before_back_as_in_the_store():
    recent = history_of([[200, "b", 1, [[1, 3, 8, 60.0]]]])
    folded = [[1, 100, "a", 3, 5, 40.0, 0]]
    assert latest_performances(recent, folded, [1]) == {1: Performance(40.0, 5)}


def test_on_a_tie_the_greater_workout_id_wins_as_in_the_store():
    recent = history_of([[100, "a", 0, [[1, 3, 8, 60.0]]]])
    folded = [[1, 100, "b", 3, 5, 40.0, 0]]
    assert latest_performances(recent, folded, [1]) == {1: Performance(40.0, 5)}
