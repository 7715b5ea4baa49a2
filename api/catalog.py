"""The catalog, held in memory and reloaded only when the projection's catalog changes."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from store import reads


@dataclass(frozen=True)
class Catalog:
    version: int
    ids: tuple[int, ...] = ()
    rendered: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Each exercise as the WOD renders it, without the suggestions."""
    defaults: dict[int, tuple[float, int]] = field(default_factory=dict)


class CatalogCache:
    """Keeps the last loaded catalog; one cheap query per request tells if it changed."""

    def __init__(self) -> None:
        self._catalog = Catalog(version=-1)
        self._lock = threading.Lock()

    def current(self, conn: sqlite3.Connection) -> Catalog:
        version = reads.catalog_version(conn)
        if version != self._catalog.version:
            with self._lock:
                if version != self._catalog.version:
                    self._catalog = _load(conn)
        return self._catalog


def _load(conn: sqlite3.Connection) -> Catalog:
    # One read transaction, so the version and the rows belong together.
    conn.execute("BEGIN")
    try:
        version = reads.catalog_version(conn)
        exercises = reads.load_catalog(conn)
    finally:
        conn.execute("COMMIT")
    return Catalog(
        version=version,
        ids=tuple(e.id for e in exercises),
        rendered={
            e.id: {
                "id": e.id,
                "name": e.name,
                "description": e.description,
                "difficulty": e.difficulty,
                "muscle_groups": e.muscle_groups,
            }
            for e in exercises
        },
        defaults={e.id: (e.default_weight, e.default_reps) for e in exercises},
    )
