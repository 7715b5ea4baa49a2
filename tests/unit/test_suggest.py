"""The suggestion rule: latest performance, else the exercise's defaults."""

from wod.suggestion import Suggestion, suggest


def test_defaults_without_history():
    assert suggest(default_weight=40.0, default_reps=8, latest=None) == Suggestion(40.0, 8)


def test_latest_performance_wins():
    assert suggest(default_weight=40.0, default_reps=8, latest=(62.5, 5)) == Suggestion(62.5, 5)
