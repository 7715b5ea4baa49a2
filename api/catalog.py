"""The catalog, held in memory and reloaded only when the projection's catalog changes."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from api.render import exercise_head, suggestion_tail
from store import reads
from store.db import read_snapshot


@dataclass(frozen=True)
class Catalog:
    version: int
    ids: tuple[int, ...] = ()
    rendered: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Each exercise as the WOD renders it, without the suggestions."""
    defaults: dict[int, tuple[float, int]] = field(default_factory=dict)
    heads: dict[int, bytes] = field(default_factory=dict)
    """`rendered` as JSON without its closing brace (see api/render.py)."""
    default_tails: dict[int, bytes] = field(default_factory=dict)
    """The suggestions' JSON for a user with no logged performance (the defaults)."""


class CatalogCache:
    """Keeps the last loaded catalog; reloads it when the catalog version changes."""

    def __init__(self) -> None:
        self._catalog = Catalog(version=-1)
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget the loaded catalog: the next `current` loads it again."""
        with self._lock:
            self._catalog = Catalog(version=-1)

    def current(self, conn: sqlite3.Connection, version: int | None = None) -> Catalog:
        """The catalog, reloaded when it changed.

        Without `version`, the projection's catalog version is read now, and any difference
        reloads. With a `version` read a moment ago (the WOD's status is reused for up to a
        second), only a newer one reloads: catalog versions only grow, and an older one
        means the loaded catalog is already newer.
        """
        loaded = self._catalog.version
        if version is None:
            version = reads.catalog_version(conn)
            stale = version != loaded
        else:
            stale = version > loaded
        if stale:
            with self._lock:
                if self._catalog.version == loaded:
                    self._catalog = _load(conn)
        return self._catalog


def _load(conn: sqlite3.Connection) -> Catalog:
    # One read transaction, so the version and the rows belong together.
    with read_snapshot(conn):
        version = reads.catalog_version(conn)
        exercises = reads.load_catalog(conn)
    rendered = {
        e.id: {
            "id": e.id,
            "name": e.name,
            "description": e.description,
            "difficulty": e.difficulty,
            "muscle_groups": e.muscle_groups,
        }
        for e in exercises
    }
    return Catalog(
        version=version,
        ids=tuple(e.id for e in exercises),
        rendered=rendered,
        defaults={e.id: (e.default_weight, e.default_reps) for e in exercises},
        heads={id_: exercise_head(r) for id_, r in rendered.items()},
        default_tails={e.id: suggestion_tail(e.default_weight, e.default_reps) for e in exercises},
    )
