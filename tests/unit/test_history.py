"""wod/history.py: what the rules read of the window's workouts (pure; store/reads.py
`history` builds a History from the projection)."""

from __future__ import annotations

from wod.entries import CompletedRow, Entry
from wod.history import History, WindowWorkout


def row(exercise_id: int, reps: int = 10, weight: float = 20.0) -> CompletedRow:
    return CompletedRow(exercise_id, 3, reps, weight)


HISTORY = History(
    [
        WindowWorkout(100, "w-a", [row(1), row(2)]),
        WindowWorkout(200, "w-b", [row(3)], deleted=True),
        WindowWorkout(300, "w-c", [row(4), row(1, reps=8, weight=25.0)]),
        WindowWorkout(400, "w-d", [row(5)]),
    ]
)


def test_done_between_is_half_open_and_leaves_deleted_workouts_out():
    assert HISTORY.done_between(100, 400) == frozenset({1, 2, 4})  # 100 in, 400 out
    assert HISTORY.done_between(101, 401) == frozenset({1, 4, 5})
    assert HISTORY.done_between(200, 300) == frozenset()  # w-b is deleted
    assert HISTORY.done_between(0, 10**6) == frozenset({1, 2, 4, 5})
    assert History([]).done_between(0, 10**6) == frozenset()


def test_entries_are_each_workout_s_own_for_the_wanted_exercises_oldest_first():
    found = HISTORY.entries([1, 3, 5])
    assert found == {
        1: [
            Entry(100, "w-a", 3, 10, 20.0, False),
            Entry(300, "w-c", 3, 8, 25.0, False),
        ],
        3: [Entry(200, "w-b", 3, 10, 20.0, True)],  # deleted workouts too, marked so
        5: [Entry(400, "w-d", 3, 10, 20.0, False)],  # after w-b, which holds none of 1, 5
    }
    assert HISTORY.entries(iter([2])) == {2: [Entry(100, "w-a", 3, 10, 20.0, False)]}


def test_a_workout_holding_none_of_the_wanted_exercises_is_skipped_not_the_end():
    """w-b and w-c hold no exercise 5; the workout after them still counts."""
    assert HISTORY.entries({5}) == {5: [Entry(400, "w-d", 3, 10, 20.0, False)]}
    assert HISTORY.entries([]) == {}
    assert HISTORY.entries([99]) == {}


def test_the_last_row_of_an_exercise_in_a_workout_is_its_entry():
    history = History([WindowWorkout(100, "w", [row(1, reps=5), row(2), row(1, reps=7)])])
    assert history.entries([1]) == {1: [Entry(100, "w", 3, 7, 20.0, False)]}
