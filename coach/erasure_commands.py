"""`coach erasure status USER_ID`: the operator's check that an erasure reached this
projection (docs/PRIVACY.md, docs/RUNBOOK.md "Erasing a user")."""

from __future__ import annotations

import click
import orjson

from coach.command_support import load_or_exit, open_projection


@click.group("erasure")
def erasure() -> None:
    """What a projection holds of an erased user."""


@erasure.command("status")
@click.argument("user_id")
def erasure_status(user_id: str) -> None:
    """Print, as JSON, whether USER_ID was erased and when, the rows held of them at or
    before the erasure (must be 0), after it, and the dead letters naming them (must be 0).
    Exits 1 unless the user is erased and nothing of theirs before it is held."""
    from store.erasure_status import erasure_status as status_of

    conn = open_projection(load_or_exit())
    try:
        status = status_of(conn, user_id=user_id)
    finally:
        conn.close()
    click.echo(orjson.dumps(status).decode())
    if not status["ok"]:
        raise SystemExit(1)
