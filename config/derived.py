"""Values derived from the settings, computed in one place for every process."""

from __future__ import annotations

from config.settings import Settings
from events.codec import Role

HOUR_US = 3_600_000_000


def roles(settings: Settings) -> dict[str, Role]:
    """Topic name -> the role of its events."""
    return {
        settings.topic_exercises: "exercises",
        settings.topic_workouts: "workouts",
        settings.topic_erasures: "erasures",
    }


def history_cutoff_us(settings: Settings, now_us: int) -> int:
    """Completed exercises before this instant (µs) are folded away."""
    return now_us - settings.history_hours * HOUR_US


DAY_US = 24 * HOUR_US


def dead_letter_cutoff_us(settings: Settings, now_us: int) -> int:
    """Dead letters of records before this instant (µs) are removed."""
    return now_us - settings.dead_letter_days * DAY_US
