"""Reading nginx's access log on from a remembered position (rollout/access_log.read_from):
whole lines only, and a rotated or truncated file read again from its start."""

from __future__ import annotations

import os

from rollout.access_log import Position, read_from


def test_reads_on_from_where_it_stopped(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("one\ntwo\n")
    start = read_from(log, None)
    assert start.lines == [] and start.end.offset == 8  # None: from the end
    with open(log, "a") as f:
        f.write("three\nfour\n")
    chunk = read_from(log, start.end)
    assert chunk.lines == ["three", "four"] and chunk.note is None
    assert read_from(log, chunk.end).lines == []


def test_a_partial_last_line_waits_for_the_next_read(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("")
    pos = read_from(log, None).end
    with open(log, "a") as f:
        f.write("whole\npart")
    chunk = read_from(log, pos)
    assert chunk.lines == ["whole"]
    with open(log, "a") as f:
        f.write("ial\n")
    assert read_from(log, chunk.end).lines == ["partial"]


def test_a_rotated_file_is_read_from_its_start(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("old\n" * 10)
    pos = read_from(log, None).end
    os.rename(log, tmp_path / "access.log.1")
    log.write_text("new-1\nnew-2\n" + "x" * 100 + "\n")  # longer than the old position or not
    chunk = read_from(log, pos)
    assert chunk.lines[:2] == ["new-1", "new-2"]
    assert chunk.note is not None and "rotated" in chunk.note


def test_a_truncated_file_is_read_from_its_start(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("line\n" * 10)
    pos = read_from(log, None).end
    with open(log, "r+") as f:  # copytruncate
        f.truncate(0)
    with open(log, "a") as f:
        f.write("after\n")
    chunk = read_from(log, pos)
    assert chunk.lines == ["after"]
    assert chunk.note is not None and "truncated" in chunk.note
    assert chunk.end == Position(os.stat(log).st_ino, 6)


def test_a_missing_file_reads_as_empty(tmp_path):
    chunk = read_from(tmp_path / "nope.log", Position(5, 100))
    assert chunk.lines == [] and chunk.end == Position(0, 0) and chunk.note
