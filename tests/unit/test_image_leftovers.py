"""Which of coach's untagged images a build removes (tools/image/leftovers.py)."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("image_build", REPO / "tools/image/build.py")
assert spec and spec.loader
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)  # puts tools/image on sys.path

import leftovers  # noqa: E402


def _d(image_id: str, created: str, stage: str) -> leftovers.Dangling:
    return leftovers.Dangling(image_id, created, stage)


def test_every_untagged_runtime_image_goes_and_every_build_stage_but_the_newest():
    images = [
        _d("b1", "2026-12-07 10:00:00 +0000 UTC", "build"),
        _d("r1", "2026-12-07 10:00:05 +0000 UTC", "runtime"),
        _d("b3", "2026-12-07 12:00:00 +0000 UTC", "build"),
        _d("b2", "2026-12-07 11:00:00 +0000 UTC", "build"),
        _d("r2", "2026-12-07 11:00:05 +0000 UTC", "runtime"),
    ]
    assert leftovers.to_remove(images) == ["r1", "r2", "b1", "b2"]


def test_a_lone_build_stage_stays_and_nothing_found_removes_nothing():
    assert leftovers.to_remove([_d("b", "2026-12-07 10:00:00 +0000 UTC", "build")]) == []
    assert leftovers.to_remove([]) == []


def test_an_image_of_no_known_stage_is_left_alone():
    assert leftovers.to_remove([_d("x", "2026-12-07 10:00:00 +0000 UTC", "")]) == []
