"""The canary's state directory (rollout/state.py): the state file survives a restart, is
replaced atomically, and a damaged one is a clear error that changes nothing."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from rollout.access_log import Position
from rollout.analysis import Side, Thresholds
from rollout.state import Config, ControllerRunning, State, StateDir, StateFileError
from tests.e2e.helpers import COACH


def a_state() -> State:
    config = Config(
        steps=(1, 50, 100),
        hold_seconds=5,
        coaches=("http://c:1",),
        thresholds=Thresholds(min_requests=7, max_lag_records=None),
    )
    return State(
        config=config,
        status="holding",
        step=1,
        percent=50,
        step_started_at=12.5,
        failures=1,
        passes=2,
        window=Position(99, 4096),
        baseline=Side(10, 1, 0, 0.3),
        reason="",
        counts={"advance": 2, "fail": 1},
    )


def test_a_state_reads_back_as_it_was_written(tmp_path):
    dirs = StateDir(tmp_path / "canary")
    state = a_state()
    dirs.save(state)
    assert dirs.load() == state
    assert not list((tmp_path / "canary").glob(".*tmp"))  # no temporary file left


def test_the_state_file_is_replaced_not_rewritten(tmp_path):
    """A reader holding the old file sees it whole: the new one is a new inode."""
    dirs = StateDir(tmp_path)
    dirs.save(a_state())
    before = os.stat(dirs.state_file).st_ino
    dirs.save(a_state())
    assert os.stat(dirs.state_file).st_ino != before


@pytest.mark.parametrize(
    "content",
    [
        '{"version": 1, "status": "runn',
        "",
        '{"version": 99}',
        '{"version": 1, "status": "weird"}',
        "[]",
    ],
)
def test_a_damaged_state_file_is_a_clear_error(tmp_path, content):
    dirs = StateDir(tmp_path)
    dirs.state_file.write_text(content)
    with pytest.raises(StateFileError, match=r"state\.json is not a usable canary state"):
        dirs.load()
    assert dirs.state_file.read_text() == content  # left as it was


def test_the_command_says_so_and_exits_1(tmp_path):
    """`coach rollout canary status|resume` on a damaged file: exit 1, the message names
    the file and what to do; nothing else."""
    (tmp_path / "state.json").write_text("{not json")
    for command in ("status", "resume", "abort"):
        done = subprocess.run(
            [COACH, "rollout", "canary", command, "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, (command, done.stderr)
        assert "state.json is not a usable canary state" in done.stderr
        assert "Traceback" not in done.stderr


def test_requests_are_taken_once(tmp_path):
    dirs = StateDir(tmp_path)
    assert dirs.take_request() is None
    dirs.request("pause")
    assert json.loads(dirs.request_file.read_text()) == {"action": "pause"}
    assert dirs.take_request() == "pause"
    assert dirs.take_request() is None
    dirs.request_file.write_text("garbage")
    assert dirs.take_request() == "garbage"  # returned for the log, never acted on


def test_one_controller_at_a_time(tmp_path):
    dirs = StateDir(tmp_path)
    assert not dirs.controller_running()
    with dirs.controller_lock():
        assert dirs.controller_running()
        with pytest.raises(ControllerRunning), dirs.controller_lock():
            pass
    assert not dirs.controller_running()


def test_resume_waits_until_the_running_controller_took_it(tmp_path):
    """`resume` given to a running controller returns only once the controller has taken
    the request: it returned at once before, so that an `abort` typed next replaced the
    request file unread and the resume was lost (the RUNBOOK's canary-control block, CI run
    of stop 36). Here the lock is held and nothing takes requests: resume must say so."""
    import dataclasses

    dirs = StateDir(tmp_path)
    dirs.save(dataclasses.replace(a_state(), status="paused"))
    with dirs.controller_lock():
        done = subprocess.run(
            [COACH, "rollout", "canary", "resume", "--state-dir", str(tmp_path), "--wait", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        assert dirs.take_request() == "resume"  # it was asked
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the controller did not resume within 1 s" in done.stderr
