"""`coach erasure check USER`: whether this projection has applied a user's erasure and
holds nothing of theirs (docs/RUNBOOK.md, "Erasing a user").

Exit codes: 0 erased, nothing left; 1 not erased here (yet), or something is left (the
output says what); 2 a usage error.
"""

from __future__ import annotations

import sys

import click
import orjson

from coach.tools import _open_projection as open_projection
from coach.tools import load_or_exit


@click.group("erasure")
def erasure() -> None:
    """Users erased by the monolith (fitness.user.erased)."""


@erasure.command("check")
@click.argument("user_id", metavar="USER")
def erasure_check(user_id: str) -> None:
    """Print what this projection holds of USER as JSON; exit 0 when the erasure is applied
    and nothing is left, else 1."""
    from store.erasure_check import remains
    from store.instants import from_us

    conn = open_projection(load_or_exit())
    try:
        found = remains(conn, user_id=user_id)
    finally:
        conn.close()
    at = found.erased_at_us
    click.echo(
        orjson.dumps(
            {
                "user_id": user_id,
                "erased": found.erased,
                "erased_at": None if at is None else from_us(at).isoformat().replace("+00:00", "Z"),
                "workouts": found.workouts,
                "performances": found.performances,
                "dead_letters_not_redacted": found.dead_letters,
            }
        ).decode()
    )
    if not found.erased:
        click.echo(
            "not erased here yet (is the consumer caught up? GET /lag)"
            if at is None
            else "erased, but rows of the user are left",
            err=True,
        )
        sys.exit(1)
