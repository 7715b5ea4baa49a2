"""The controller's own I/O with stand-ins for nginx: an access log the test writes, a
set-percent script that records its calls (and fails when told), a Prometheus that answers
GET /api/v1/alerts, a coach stand-in for /ready."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import COACH, wait_for
from tests.routing.conftest import coach  # noqa: F401 (fixture: /ready answers 200)

FAKE_SET_PERCENT = """#!/bin/sh
# records "PERCENT CONF", fails when a file fail-PERCENT exists beside it
here=$(dirname "$0")
[ -e "$here/fail-$1" ] && { echo "nginx -t refused it" >&2; exit 1; }
echo "$1 $2" >> "$here/calls"
printf '    "~^bx{%s}"  legacy;\\n' "$1" > "$2"
echo "now $1 %"
"""

COACH_LINE = (
    '2026-12-01T10:00:00+00:00 127.0.0.1 "GET /fitness/wod HTTP/1.1" status=200 side=coach '
    "served_by=coach upstream=127.0.0.1:1 upstream_status=200 request_time=0.003 "
    "upstream_time=0.003 request_id=x\n"
)
LEGACY_LINE = COACH_LINE.replace("side=coach served_by=coach", "side=legacy served_by=legacy")


class Traffic:
    """Writes 10 coach and 10 monolith lines to the log every 0.1 s, as nginx would."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with open(self.log, "a") as f:
                f.write(COACH_LINE * 10 + LEGACY_LINE * 10)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def prometheus() -> Iterator[dict[str, Any]]:
    """GET /api/v1/alerts answering with `alerts` (mutable)."""
    served: dict[str, Any] = {"alerts": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"status": "success", "data": {"alerts": served["alerts"]}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture
def world(tmp_path: Path, coach) -> dict[str, Any]:  # noqa: F811
    script = tmp_path / "set-percent.sh"
    script.write_text(FAKE_SET_PERCENT)
    script.chmod(0o755)
    conf = tmp_path / "coach.conf"
    conf.write_text('    "~^bx{0}"  legacy;\n')
    log = tmp_path / "access.log"
    log.write_text("")
    return {"root": tmp_path, "script": script, "conf": conf, "log": log, "coach": coach}


def start(world: dict[str, Any], *extra: str) -> subprocess.Popen[bytes]:
    args = [
        COACH, "rollout", "canary", "start", "--state-dir", str(world["root"] / "state"),
        "--access-log", str(world["log"]), "--conf", str(world["conf"]),
        "--set-percent", str(world["script"]), "--coach", f"http://{world['coach'].address}",
        "--hold", "0.6", "--analysis-interval", "0.3", "--poll", "0.1", "--min-requests", "10",
        *extra,
    ]  # fmt: skip
    return subprocess.Popen(args, stderr=open(world["root"] / "stderr", "wb"))


def calls(world: dict[str, Any]) -> list[str]:
    path = world["root"] / "calls"
    return path.read_text().splitlines() if path.exists() else []


def state(world: dict[str, Any]) -> dict[str, Any]:
    return json.loads((world["root"] / "state/state.json").read_text())


def test_a_firing_coach_alert_rolls_back(world, prometheus):
    """Healthy traffic, then Prometheus reports an alert with service="coach" firing (one
    of another service is ignored): rolled back to 0, set-percent called with 0 last."""
    prometheus["alerts"] = [{"state": "firing", "labels": {"alertname": "X", "service": "db"}}]
    with Traffic(world["log"]):
        proc = start(world, "--steps", "5,25,100", "--hold", "30",
                     "--prometheus-url", prometheus["url"])  # fmt: skip
        wait_for("a passing analysis", lambda: state(world)["counts"].get("pass"), 20)
        prometheus["alerts"].append(
            {"state": "firing", "labels": {"alertname": "CoachWodErrors", "service": "coach"}}
        )
        assert proc.wait(20) == 3
    conf = str(world["conf"])
    assert calls(world) == [f"5 {conf}", f"0 {conf}"]
    decisions = [json.loads(x) for x in (world["root"] / "state/decisions.jsonl").open()]
    alerts = next(c for c in decisions[-1]["checks"] if c["check"] == "alerts")
    assert alerts == {"check": "alerts", "result": "fail", "value": 1, "limit": 0,
                      "detail": "CoachWodErrors"}  # fmt: skip


def test_without_prometheus_the_alert_check_is_skipped_and_logged(world):
    with Traffic(world["log"]):
        proc = start(world, "--steps", "5,10")
        assert proc.wait(30) == 0
    done = json.loads((world["root"] / "state/decisions.jsonl").read_text().splitlines()[-1])
    alerts = next(c for c in done["checks"] if c["check"] == "alerts")
    assert alerts["result"] == "skipped"
    assert calls(world) == [f"5 {world['conf']}", f"10 {world['conf']}"]


def test_set_percent_failing_pauses_at_the_old_percentage(world):
    """set-percent refuses 25 (nginx -t failed, say): the rollout pauses at 5 %, says why,
    and does not count itself at 25; abort then returns to 0."""
    (world["root"] / "fail-25").touch()
    with Traffic(world["log"]):
        proc = start(world, "--steps", "5,25")
        wait_for("paused", lambda: state(world)["status"] == "paused", 20)
        current = state(world)
        assert current["percent"] == 5 and "set-percent failed" in current["reason"]
        assert current["counts"].get("advance") == 1
        abort = subprocess.run(
            [COACH, "rollout", "canary", "abort", "--state-dir", str(world["root"] / "state")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert abort.returncode == 0, abort.stderr
        assert proc.wait(20) == 4
    assert calls(world) == [f"5 {world['conf']}", f"0 {world['conf']}"]


def test_start_refuses_while_a_rollout_is_live(world):
    """A second start on a live rollout's state directory: refused, nothing called."""
    proc = start(world, "--steps", "5,25", "--hold", "60")
    wait_for("started", lambda: state(world)["percent"] == 5, 20)
    try:
        second = start(world, "--steps", "5,25")
        assert second.wait(30) == 1
        assert "resume it or abort it first" in (world["root"] / "stderr").read_text()
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.1)
    assert calls(world) == [f"5 {world['conf']}"]


def test_sigterm_stops_the_controller_where_it_is(world):
    """SIGTERM: exit 5, nginx and the state left at the step's percentage, for `resume`."""
    proc = start(world, "--steps", "5,25", "--hold", "60")
    wait_for("started", lambda: state(world)["percent"] == 5, 20)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 5
    assert state(world)["status"] in ("running", "holding")
    assert state(world)["percent"] == 5
    assert calls(world) == [f"5 {world['conf']}"]
    assert "stopped by signal 15 at 5 %" in (world["root"] / "stderr").read_text()


def test_a_request_left_from_an_earlier_rollout_is_discarded(world):
    """An `abort` written to the state directory as an earlier controller exited (so never
    taken) does not abort the next rollout started there: discarded, and said."""
    state_dir = world["root"] / "state"
    state_dir.mkdir()
    (state_dir / "request.json").write_text('{"action": "abort"}\n')
    proc = start(world, "--steps", "5,25", "--hold", "60")
    try:
        wait_for("started", lambda: state(world)["percent"] == 5, 20)
        time.sleep(0.5)  # several polls
        assert state(world)["status"] in ("running", "holding")
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert (
        "discarded a request left from before this rollout"
        in (world["root"] / "stderr").read_text()
    )
    assert not (state_dir / "request.json").exists()
