"""`coach dead-letters`: list, inspect, retry and resolve the records the consumer could not
apply (consumer/dead_letters.py). The procedure is docs/RUNBOOK.md's "Dead letters".

Exit codes: 0 done; 1 not done or not all done (a letter still fails, an id names no
letter, no projection, bad settings); 2 a usage error (click).
"""

from __future__ import annotations

import getpass
import logging
import sys
from datetime import UTC, datetime

import click
import orjson

from coach.command_support import load_or_exit, open_projection

log = logging.getLogger("coach.dead_letters")


@click.group("dead-letters")
def dead_letters() -> None:
    """Records that could not be applied, kept with their reason."""


@dead_letters.command("list")
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1), help="At most N letters."
)
@click.option("--all", "everything", is_flag=True, help="Every letter, however many.")
def dead_letters_list(limit: int, everything: bool) -> None:
    """Print the dead letters as JSON lines, the most recently stored first. When there are
    more than shown, says so on stderr ("showing 100 of 250 ...")."""
    from consumer.dead_letters import list_letters
    from store.dead_letters import count

    conn = open_projection(load_or_exit())
    try:
        shown = list_letters(conn, limit=None if everything else limit)
        total = count(conn)
    finally:
        conn.close()
    for letter in shown:
        click.echo(orjson.dumps(letter).decode())
    if len(shown) < total:
        click.echo(
            f"showing {len(shown)} of {total} dead letters, the newest first: "
            "--limit N or --all for more",
            err=True,
        )


@dead_letters.command("inspect")
@click.argument("letter_id", metavar="ID", type=int)
def dead_letters_inspect(letter_id: int) -> None:
    """Print one dead letter as indented JSON (exit 1 when no letter has this id)."""
    from consumer.dead_letters import described
    from store.dead_letters import by_ids

    conn = open_projection(load_or_exit())
    try:
        found = by_ids(conn, [letter_id])
    finally:
        conn.close()
    if not found:
        raise click.ClickException(f"no dead letter with id {letter_id}")
    click.echo(orjson.dumps(described(found[0]), option=orjson.OPT_INDENT_2).decode())


@dead_letters.command("retry")
def dead_letters_retry() -> None:
    """Apply every dead letter again (after a fix); remove those that now apply. Exits 1
    when any still fails (each is printed on stderr with its reason)."""
    from config.derived import roles
    from consumer.dead_letters import retry

    settings = load_or_exit()
    conn = open_projection(settings, readonly=False)
    try:
        result = retry(conn, roles=roles(settings))
    finally:
        conn.close()
    for error in result.errors:
        click.echo(f"still failing: {error}", err=True)
    click.echo(
        f"applied {result.applied}, still failing {result.still_failing}, "
        f"redacted (erased users, left as they are) {result.redacted}"
    )
    if result.still_failing:
        click.echo(
            f"{result.still_failing} dead letter(s) still fail: fix the cause and retry, or "
            "resolve them (coach dead-letters resolve ID... --reason TEXT)",
            err=True,
        )
        sys.exit(1)


@dead_letters.command("resolve")
@click.argument("ids", metavar="ID...", nargs=-1, required=True, type=int)
@click.option("--reason", required=True, help="Why they can go (kept in the log).")
@click.option("--by", "who", default=None, help="Who resolves them (default: the OS user).")
def dead_letters_resolve(ids: tuple[int, ...], reason: str, who: str | None) -> None:
    """Remove dead letters that will never apply, on purpose: all the ids or none (exit 1
    when one names no letter). Logs who, when, why and each letter's place and reason, and
    prints each removed letter as a JSON line."""
    from consumer.dead_letters import UnknownLetters, described, resolve

    if not reason.strip():
        raise click.BadParameter("say why the letters can go", param_hint="--reason")
    who = who or _user()
    conn = open_projection(load_or_exit(), readonly=False)
    try:
        removed = resolve(conn, list(ids))
    except UnknownLetters as exc:
        raise click.ClickException(f"{exc}: nothing was resolved") from None
    finally:
        conn.close()
    at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for letter in removed:
        log.warning(
            "dead letter %d (%s/%d@%d, %r) resolved by %s at %s: %s",
            letter.id,
            letter.topic,
            letter.partition,
            letter.offset,
            letter.error,
            who,
            at,
            reason,
        )
        record = {**described(letter), "resolved_by": who, "resolved_at": at, "reason": reason}
        click.echo(orjson.dumps(record).decode())
    click.echo(f"resolved {len(removed)} dead letter(s)", err=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
