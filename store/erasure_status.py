"""What a projection holds of one user, for the operator's erasure check
(`coach erasure status USER_ID`, docs/RUNBOOK.md "Erasing a user"). Read only."""

from __future__ import annotations

import sqlite3
from typing import Any

from store.instants import from_us


def erasure_status(conn: sqlite3.Connection, *, user_id: str) -> dict[str, Any]:
    """Whether and when `user_id` was erased, how many rows of theirs the projection holds
    at or before the erasure (0 once erased: the check), how many after it (a new account
    with the same id), and how many dead letters still name them (0 once erased)."""
    row = conn.execute(
        "SELECT erased_at_us FROM erased_users WHERE user_id = ?", (user_id,)
    ).fetchone()
    erased_at = None if row is None else row[0]
    until = -1 if erased_at is None else erased_at

    def rows(table: str, before: bool) -> int:
        test = "<=" if before else ">"
        return conn.execute(
            f"SELECT count(*) FROM {table} WHERE user_id = ? AND completed_at_us {test} ?",  # nosec B608
            (user_id, until),
        ).fetchone()[0]

    held_before = rows("workouts", True) + rows("performances", True)
    held_after = rows("workouts", False) + rows("performances", False)
    letters = conn.execute(
        "SELECT count(*) FROM dead_letter_users WHERE user_id = ?", (user_id,)
    ).fetchone()[0]
    return {
        "user_id": user_id,
        "erased": erased_at is not None,
        "erased_at": None if erased_at is None else from_us(erased_at).isoformat(),
        "rows_at_or_before_erasure": held_before if erased_at is not None else None,
        "rows_after_erasure": held_after,
        "dead_letters_naming": letters,
        "ok": erased_at is not None and held_before == 0 and letters == 0,
    }
