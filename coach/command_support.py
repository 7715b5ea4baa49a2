"""What the `coach` commands share: the settings or a clear exit, the projection opened or a
clear exit, JSON output, and the line every command that opens the projection logs first
(`announce`: which file it is)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import orjson

from config.settings import ConfigError, Settings, load_settings

log = logging.getLogger("coach")


def load_or_exit() -> Settings:
    """The settings, or a ClickException naming the bad variable."""
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


def open_projection(settings: Settings, *, readonly: bool = True) -> Any:
    """A connection to the projection, or a ClickException saying why there is none."""
    from store.db import connect
    from store.errors import StoreError

    if not Path(settings.db_path).exists():
        raise click.ClickException(f"no projection at {settings.db_path} (COACH_DB_PATH)")
    try:
        return connect(settings.db_path, readonly=readonly)
    except StoreError as exc:  # unreadable, or of a schema this coach cannot use
        raise click.ClickException(str(exc)) from None


def announce(settings: Settings) -> None:
    """Log the projection file this process uses, resolved to an absolute path: a relative
    or unset `COACH_DB_PATH` (a variable set but not exported) shows here."""
    path = Path(settings.db_path)
    where = path.absolute()
    if path.is_symlink():
        state = f"a link to {path.resolve().name}"
    elif path.exists():
        state = "exists"
    else:
        state = "does not exist yet"
    log.info("projection file: %s (%s)", where, state)
    if "db_path" not in settings.model_fields_set:
        log.warning(
            "COACH_DB_PATH is not set: using the default %s in the current directory "
            "(set and export COACH_DB_PATH to use another file)",
            where,
        )
