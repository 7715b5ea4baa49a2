"""`coach rollout canary` end to end: a real coach on the real broker, the monolith's
stand-in, a real nginx, clients through it, and the controller as a process of its own that
moves traffic with deploy/nginx/set-percent.sh and reads nginx's access log."""

from __future__ import annotations

import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from rollout.probes import probe_timeout
from tests.e2e.helpers import wait_for
from tests.rollout.conftest import Canary, DelayingProxy, Load, get, start_coach

pytestmark = pytest.mark.broker

ANALYSIS = 0.5
MAX_FAILURES = 2
# A failure is in the next analysis' window; the MAX_FAILURES-th failing analysis rolls back;
# then set-percent reloads nginx (and this test's polling adds a little).
BOUND = (MAX_FAILURES + 1) * ANALYSIS + 1.0


def options(coach_url: str, **overrides: object) -> list[str]:
    values: dict[str, object] = {
        "hold": 1.5,
        "analysis-interval": ANALYSIS,
        "poll": 0.1,
        "min-requests": 10,
        "max-failures": MAX_FAILURES,
        "max-extension": 20,
        # a loaded 2-core machine can take coach's p99 to a few hundred ms; the slowness
        # test adds 600 ms
        "latency-floor": 0.3,
        "coach": coach_url,
    }
    values.update(overrides)
    return [arg for key, value in values.items() for arg in (f"--{key}", str(value))]


def users_saw_no_error(load: Load, frozen_mid_response: int = 0) -> None:
    """Every client got a 200. (A GET whose idle keep-alive connection a reload closed is
    sent again, as clients do: rare, and counted.) `frozen_mid_response`: how many answers
    a SIGSTOP may cut (the frozen process's answers in flight: uvicorn writes the headers and
    the body in two writes, nginx passes the headers on at once, so a process stopped between
    the two leaves its client a cut body, which no proxy can send elsewhere)."""
    cut = load.statuses.get("IncompleteRead", 0)
    assert cut <= frozen_mid_response, load.statuses
    assert set(load.statuses) - {"IncompleteRead"} == {200}, load.statuses
    assert load.reconnects <= load.statuses.total() / 100, (load.reconnects, load.statuses)


def at(decision: dict[str, object]) -> float:
    return datetime.fromisoformat(str(decision["time"]).replace("Z", "+00:00")).timestamp()


def test_a_healthy_rollout_reaches_100(start_nginx, shared_coach, monolith, tmp_path, canaries):
    """Steady traffic of 2,000 users through nginx, coach healthy: the canary advances
    through every step to 100 % (the last held against the monolith's figures of the step
    before, since no user is left on its side), no check fails, and no client saw an error."""
    nginx = start_nginx(coach=shared_coach.address, legacy=monolith, percent=0)
    canary = Canary(nginx, tmp_path / "canary")
    canaries.append(canary)
    with Load(nginx.port, threads=4) as load:
        canary.start("--steps", "5,25,50,100", *options(shared_coach.url))
        code = canary.wait(90)
    assert code == 0, canary.log()
    state = canary.state()
    assert (state["status"], state["percent"], canary.nginx_percent()) == ("done", 100, 100)
    decisions = canary.decisions()
    moves = [
        (d["percent_before"], d["percent_after"]) for d in decisions if d["decision"] == "advance"
    ]
    assert moves == [(0, 5), (5, 25), (25, 50), (50, 100)]
    assert decisions[-1]["decision"] == "done"
    assert not [d for d in decisions if d["decision"] in ("fail", "rollback")]
    users_saw_no_error(load)
    assert load.served_by["coach"] > 0 and load.served_by["legacy"] > 0
    assert "invalid socket number" not in canary.log()  # set-percent's nginx -t and reloads
    metrics = (canary.state_dir / "metrics.prom").read_text()
    for line in (
        "coach_rollout_percent 100.0",
        'coach_rollout_state{state="done"} 1.0',
        'coach_rollout_state{state="running"} 0.0',
        'coach_rollout_decisions_total{decision="advance"} 4.0',
        'coach_rollout_check_value{check="fallback_ratio"} 0.0',
    ):
        assert line in metrics.splitlines(), metrics


def test_coach_failing_at_25_is_rolled_back_at_once_and_users_see_no_error(
    kafka_bootstrap, start_nginx, monolith, tmp_path, canaries
):
    """At 25 % coach's consumer stops: its /ready and its WODs answer 503 and nginx falls
    back to the monolith. The canary rolls back to 0 within the bound (a failure is in the
    next analysis; MAX_FAILURES failing analyses roll back), exits 3, and every client got a
    200 throughout."""
    replica = start_coach(kafka_bootstrap, tmp_path / "coach")
    try:
        nginx = start_nginx(coach=replica.address, legacy=monolith, percent=0)
        canary = Canary(nginx, tmp_path / "canary")
        canaries.append(canary)
        with Load(nginx.port, threads=4) as load:
            canary.start("--steps", "5,25,100", *options(replica.url, hold=8))
            canary.wait_until("at 25 %", lambda s: s["percent"] == 25)
            replica.consumer.stop()
            wait_for("coach not ready", lambda: get(replica.port, "/ready")[0] == 503, 15)
            failed_at = time.time()
            code = canary.wait(60)
        assert code == 3, canary.log()
        assert (canary.state()["status"], canary.nginx_percent()) == ("rolled_back", 0)
        decisions = canary.decisions()
        rollback = next(d for d in decisions if d["decision"] == "rollback")
        assert rollback["percent_before"] == 25
        assert at(rollback) - failed_at <= BOUND, (at(rollback) - failed_at, decisions[-4:])
        failed = {c["check"] for c in rollback["checks"] if c["result"] == "fail"}
        assert "ready" in failed
        users_saw_no_error(load)
    finally:
        replica.stop()


def test_a_hung_coach_at_25_is_rolled_back_within_the_documented_bound(
    kafka_bootstrap, start_nginx, monolith, tmp_path, canaries
):
    """At 25 % coach's api is frozen (SIGSTOP: its socket stays open, nothing answers), with
    --analysis-interval 1 as an operator would run it: nginx is back at 0 % within the
    RUNBOOK's bound, max_failures x interval + the probe timeout (min(2 s, interval / 2))
    + the reload (1 s, with this test's polling), and clients got only 200s (after the
    2 s read timeout, from the monolith)."""
    interval = 1.0
    bound = MAX_FAILURES * interval + probe_timeout(interval) + 1.0
    replica = start_coach(kafka_bootstrap, tmp_path / "coach")
    frozen = False
    try:
        nginx = start_nginx(coach=replica.address, legacy=monolith, percent=0)
        canary = Canary(nginx, tmp_path / "canary")
        canaries.append(canary)
        with Load(nginx.port, threads=4) as load:
            opts = options(replica.url, hold=30, **{"analysis-interval": interval})
            canary.start("--steps", "5,25,100", *opts)
            canary.wait_until("at 25 %", lambda s: s["percent"] == 25)
            replica.api.proc.send_signal(signal.SIGSTOP)
            frozen = True
            frozen_at = time.monotonic()
            wait_for("nginx back at 0 %", lambda: canary.nginx_percent() == 0, 30)
            back_after = time.monotonic() - frozen_at
            code = canary.wait(30)
        assert code == 3, canary.log()
        assert back_after <= bound, (back_after, bound, canary.decisions()[-3:])
        rollback = next(d for d in canary.decisions() if d["decision"] == "rollback")
        failed = {c["check"] for c in rollback["checks"] if c["result"] == "fail"}
        assert "ready" in failed
        users_saw_no_error(load, frozen_mid_response=1)
    finally:
        if frozen:
            replica.api.proc.send_signal(signal.SIGCONT)
        replica.stop()


def test_slow_coach_at_25_is_rolled_back_on_latency(
    start_nginx, shared_coach, monolith, tmp_path, canaries
):
    """At 25 % a proxy in front of coach holds every request 600 ms (under nginx's 2 s read
    timeout: no fallback, users get coach's answers, slowly): coach's p99 against the
    monolith's in the same windows fails, and the canary rolls back within the bound."""
    proxy = DelayingProxy(shared_coach.address)
    try:
        nginx = start_nginx(coach=proxy.address, legacy=monolith, percent=0)
        canary = Canary(nginx, tmp_path / "canary")
        canaries.append(canary)
        # enough clients that each window still holds --min-requests coach requests when
        # every one of them takes 600 ms (the bound's condition)
        with Load(nginx.port, threads=16) as load:
            canary.start("--steps", "5,25,100", *options(shared_coach.url, hold=5))
            canary.wait_until("at 25 %", lambda s: s["percent"] == 25)
            proxy.delay = 0.6
            slow_at = time.time()
            code = canary.wait(60)
        assert code == 3, canary.log()
        assert canary.nginx_percent() == 0
        rollback = next(d for d in canary.decisions() if d["decision"] == "rollback")
        # nginx logs a request when it ends: the first slow ones 0.6 s after the delay began
        assert at(rollback) - slow_at <= BOUND + 0.6, at(rollback) - slow_at
        checks = {c["check"]: c for c in rollback["checks"]}
        assert checks["latency_p99_ratio"]["result"] == "fail"
        assert checks["fallback_ratio"]["result"] == "pass"
        users_saw_no_error(load)
    finally:
        proxy.close()


def test_too_little_traffic_holds_never_advances_and_abort_returns_to_0(
    start_nginx, shared_coach, monolith, tmp_path, canaries
):
    """A trickle of traffic (2 requests/s: at 5 % coach sees hardly any): every analysis
    holds, none passes or fails; past hold + max extension the step is inconclusive and the
    rollout pauses at 5 %, never advanced. Then `abort` from another process: nginx back at
    0 %, the controller exits 4."""
    nginx = start_nginx(coach=shared_coach.address, legacy=monolith, percent=0)
    canary = Canary(nginx, tmp_path / "canary")
    canaries.append(canary)
    with Load(nginx.port, threads=1, pause=0.5):
        canary.start("--steps", "5,25", *options(shared_coach.url, hold=1, **{"max-extension": 2}))
        canary.wait_until("paused", lambda s: s["status"] == "paused", 30)
        time.sleep(1)  # paused: analyses go on, nothing advances
        assert (canary.state()["percent"], canary.nginx_percent()) == (5, 5)
        aborted = canary.run("abort")
    assert aborted.returncode == 0, aborted.stderr
    assert canary.wait(30) == 4
    assert (canary.state()["status"], canary.nginx_percent()) == ("aborted", 0)
    decisions = [d["decision"] for d in canary.decisions()]
    assert decisions.count("advance") == 1  # 0 -> 5 only
    assert "pass" not in decisions and "fail" not in decisions
    assert decisions.count("hold") >= 3
    pause = next(d for d in canary.decisions() if d["decision"] == "pause")
    assert pause["reason"].startswith("inconclusive")
    assert decisions[-1] == "abort"


def test_pause_resume_and_a_killed_controller_resumes_where_it_was(
    start_nginx, shared_coach, monolith, tmp_path, canaries
):
    """`pause` from another shell holds the rollout at 25 % past its hold time; `resume`
    lets it go on; the controller killed (SIGKILL) at 25 % and started again with `resume`
    renders 25 % again (set-percent: "was 25 %") and carries on to 100 % from that step."""
    nginx = start_nginx(coach=shared_coach.address, legacy=monolith, percent=0)
    canary = Canary(nginx, tmp_path / "canary")
    canaries.append(canary)
    with Load(nginx.port, threads=4) as load:
        canary.start("--steps", "5,25,50,100", *options(shared_coach.url, hold=3))
        canary.wait_until("at 25 %", lambda s: s["percent"] == 25)
        paused = canary.run("pause")
        assert paused.returncode == 0, paused.stderr
        time.sleep(3.5)  # longer than the hold
        state = canary.state()
        assert (state["status"], state["percent"], canary.nginx_percent()) == ("paused", 25, 25)
        resumed = canary.run("resume")
        assert resumed.returncode == 0, resumed.stderr
        canary.wait_until("running", lambda s: s["status"] != "paused", 10)

        canary.kill()  # SIGKILL, mid-step
        assert (canary.state()["percent"], canary.nginx_percent()) == (25, 25)
        canary.start(command="resume")
        code = canary.wait(90)
    assert code == 0, canary.log()
    assert (canary.state()["status"], canary.nginx_percent()) == ("done", 100)
    decisions = canary.decisions()
    names = [d["decision"] for d in decisions]
    restart = next(d for d in decisions if d["reason"].startswith("controller started again"))
    assert (restart["decision"], restart["step"], restart["percent_after"]) == ("resume", 1, 25)
    moves = [
        (d["percent_before"], d["percent_after"]) for d in decisions if d["decision"] == "advance"
    ]
    assert moves == [(0, 5), (5, 25), (25, 50), (50, 100)]
    assert names.index("pause") < names.index("resume") < decisions.index(restart)
    assert "now goes to coach for 25 % of users (was 25 %)" in canary.log()
    users_saw_no_error(load)


def test_a_dry_run_decides_but_never_moves_traffic(
    start_nginx, shared_coach, monolith, tmp_path, canaries
):
    """nginx at 25 % by hand; `start --dry-run` analyses the real traffic, logs that it would
    advance to 50 % and finish, and never calls set-percent (the conf is untouched); its
    state and decisions are in DIR/dry-run, and it writes no metrics file."""
    nginx = start_nginx(coach=shared_coach.address, legacy=monolith, percent=25)
    before = Path(nginx.conf).stat().st_mtime_ns
    canary = Canary(nginx, tmp_path / "canary")
    canaries.append(canary)
    with Load(nginx.port, threads=4):
        canary.start("--dry-run", "--steps", "25,50", *options(shared_coach.url, hold=1))
        code = canary.wait(60)
    assert code == 0, canary.log()
    assert Path(nginx.conf).stat().st_mtime_ns == before
    assert canary.nginx_percent() == 25
    # its state in a directory of its own, and no metrics that a dashboard could take for
    # a real rollout's
    assert not (canary.state_dir / "state.json").exists()
    assert not list(canary.state_dir.rglob("metrics.prom"))
    assert "a DRY RUN" in canary.log()
    canary.state_dir = canary.state_dir / "dry-run"
    decisions = canary.decisions()
    assert all(d.get("dry_run") for d in decisions)
    assert [(d["decision"], d["percent_after"]) for d in decisions if d["decision"] != "pass"][
        -2:
    ] == [("advance", 50), ("done", 50)]
    assert "dry run: would run" in canary.log()
