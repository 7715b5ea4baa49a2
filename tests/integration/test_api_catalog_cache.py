"""The api's catalog cache over a real projection: reloads on a new version only."""

from __future__ import annotations

from api.catalog import CatalogCache
from store.db import connect
from tests.factories import upserted


def test_reloads_when_the_version_changes_and_not_for_a_stale_one(settings, project):
    project([upserted(1), upserted(2)])
    conn = connect(settings.db_path, readonly=True)
    cache = CatalogCache()
    first = cache.current(conn)
    assert first.ids == (1, 2)
    old_version = first.version
    project([upserted(3)])
    second = cache.current(conn)  # reads the version now: reloads
    assert second.ids == (1, 2, 3) and second.version > old_version
    # A version read a moment before the change (the WOD's status is up to 1 s old):
    # the newer catalog is kept, not reloaded on every request.
    assert cache.current(conn, old_version) is second
    assert cache.current(conn, old_version) is second
    conn.close()


def test_rendered_heads_and_default_tails_make_the_documented_object(settings, project):
    import orjson

    project([upserted(7, weight=42.5, reps=9, groups=(1, 2))])
    conn = connect(settings.db_path, readonly=True)
    catalog = CatalogCache().current(conn)
    conn.close()
    exercise = orjson.loads(catalog.heads[7] + catalog.default_tails[7])
    assert exercise == {
        **catalog.rendered[7],
        "suggested_weight": 42.5,
        "suggested_reps": 9,
    }
    assert [g["id"] for g in exercise["muscle_groups"]] == [1, 2]
