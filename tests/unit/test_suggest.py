"""The suggestion rule (wod/suggestion.py): of the newest workouts holding an exercise, the
newest not deleted, else the exercise's defaults."""

from wod.suggestion import (
    KEPT_PER_EXERCISE,
    Entry,
    Performance,
    Suggestion,
    best_performances,
    newest_entries,
    suggest,
    suggested_entry,
)


def entry(at: int, workout: str, weight: float = 50.0, *, deleted: bool = False) -> Entry:
    return Entry(at, workout, 3, 5, weight, deleted)


def test_defaults_without_history():
    assert suggest(default_weight=40.0, default_reps=8, latest=None) == Suggestion(40.0, 8)


def test_latest_performance_wins():
    assert suggest(default_weight=40.0, default_reps=8, latest=(62.5, 5)) == Suggestion(62.5, 5)


def test_a_suggestion_is_a_float_weight_and_int_reps():
    got = suggest(default_weight=40.0, default_reps=8, latest=(60, 5.0))  # as SQLite may give
    assert (type(got.weight), type(got.reps)) == (float, int)


def test_three_workouts_are_kept_per_exercise_newest_first():
    entries = [entry(at, f"w{at}") for at in (1, 5, 3, 4, 2)]
    assert KEPT_PER_EXERCISE == 3
    assert [e.workout_id for e in newest_entries(entries)] == ["w5", "w4", "w3"]
    assert [e.workout_id for e in newest_entries(entries, keep=1)] == ["w5"]


def test_ties_on_time_go_to_the_greater_workout_id():
    """A total order: the same entries in any arrival order keep the same ones."""
    entries = [entry(7, "b"), entry(7, "c"), entry(7, "a"), entry(6, "z")]
    assert [e.workout_id for e in newest_entries(entries)] == ["c", "b", "a"]
    assert [e.workout_id for e in newest_entries(entries[::-1])] == ["c", "b", "a"]


def test_the_first_entry_of_a_workout_wins():
    """Folded entries are passed before the window's: the earliest seen stands for its
    workout, and a workout counts once among the kept."""
    entries = [entry(5, "w", 60.0), entry(5, "w", 70.0), entry(4, "v"), entry(3, "u")]
    kept = newest_entries(entries)
    assert kept == [entry(5, "w", 60.0), entry(4, "v"), entry(3, "u")]  # none deleted


def test_a_workout_is_deleted_if_any_of_its_entries_is():
    for entries in (
        [entry(5, "w", 60.0), entry(5, "w", 70.0, deleted=True)],
        [entry(5, "w", 60.0, deleted=True), entry(5, "w", 70.0)],
    ):
        (kept,) = newest_entries(entries)
        assert (kept.weight, kept.deleted) == (60.0, True)  # the first entry's, deleted


def test_the_suggested_entry_is_the_newest_not_deleted_among_the_kept():
    entries = [entry(5, "w5", 55.0, deleted=True), entry(4, "w4", 44.0), entry(3, "w3", 33.0)]
    assert suggested_entry(entries) == entry(4, "w4", 44.0)
    gone = [entry(at, f"w{at}", deleted=True) for at in (5, 4, 3)] + [entry(2, "w2")]
    assert suggested_entry(gone) is None  # w2 is not among the 3 kept: the defaults
    assert suggested_entry([]) is None


def test_best_performances_leaves_out_exercises_with_none():
    found = best_performances({1: [entry(5, "w", 60.0)], 2: [entry(5, "w", deleted=True)]})
    assert found == {1: Performance(60.0, 5)}
