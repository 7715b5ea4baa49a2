"""The ADR's phases on the running parts: (1) coach at 0 %, the backfill, readiness; (2)
shadow traffic and the comparison gate; (3) the canary to 100 %, the rollback drill, the
canary again. Each phase's start and end, each fault and each canary decision go to the
`Journal` the report reads."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal import activity
from rehearsal.coachside import Nginx, Prometheus, Replica
from rehearsal.infra import BIN, REPO, Infra, base_env, get_json, http_status
from rehearsal.plan import Fault, Plan, faults_of
from rehearsal.procs import Processes, wait_until


@dataclass
class Journal:
    phases: list[tuple[str, float, float]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    canaries: list[dict[str, Any]] = field(default_factory=list)
    compare: dict[str, Any] = field(default_factory=dict)
    drill: dict[str, Any] = field(default_factory=dict)
    slo: list[dict[str, Any]] = field(default_factory=list)
    """The highest 5-minute burn rate per SLO in each phase (rehearsal/checks.py)."""
    agreement: dict[str, Any] = field(default_factory=dict)
    """Yesterday's exercises of a sample of users per side, and the users they differ on."""
    notes: list[str] = field(default_factory=list)

    def say(self, message: str) -> None:
        print(f"rehearsal: {message}", flush=True)


@dataclass
class Stack:
    plan: Plan
    root: Path
    procs: Processes
    infra: Infra
    a: Replica
    b: Replica
    nginx: Nginx
    prometheus: Prometheus
    journal: Journal

    @property
    def replicas(self) -> list[Replica]:
        return [self.a, self.b]


def ready(replica: Replica) -> bool:
    return http_status(f"{replica.url}/ready") == 200


def phase_one(s: Stack) -> None:
    """Backfill what the monolith holds, then wait until both replicas are ready."""
    s.journal.say("phase 1: the backfill, then readiness")
    args = [sys.executable, "-m", "monolith_kit.backfill", "--database-url", s.infra.database_url,
            "--source", "deploy.monolith.models:BACKFILL", "--days", "2"]  # fmt: skip
    subprocess.run(args, cwd=REPO, env=base_env(), check=True, capture_output=True, timeout=300)
    wait_until("both replicas ready", lambda: all(ready(r) for r in s.replicas), 180, 0.5)


def run_faults(s: Stack, phase: str) -> threading.Thread:
    """The phase's faults at their moments, in a thread of their own."""
    start = time.time()

    def go() -> None:
        for fault in faults_of(s.plan, phase):
            time.sleep(max(0.0, start + fault.at - time.time()))
            inject(s, fault)

    thread = threading.Thread(target=go, name=f"faults-{phase}", daemon=True)
    thread.start()
    return thread


def inject(s: Stack, fault: Fault) -> None:
    began = time.time()
    detail = ""
    try:
        if fault.kind == "kill_consumer":
            s.procs.kill9("b-consume")
            s.b.start_consumer(s.procs)
        elif fault.kind == "kill_api":
            s.procs.kill9("b-api")
            s.b.start_api(s.procs)
        elif fault.kind == "kill_connect":
            s.infra.stop_connect(kill=True)
            s.infra.start_connect()
        elif fault.kind == "broker_outage":
            s.infra.stop_broker()
            time.sleep(s.plan.outage_seconds)
            s.infra.restart_broker()
        elif fault.kind == "restart_postgres":
            s.infra.restart_postgres()
        elif fault.kind == "burst":
            n, took = activity.burst(
                s.infra.database_url, s.plan.seed_users, s.plan.burst_workouts, s.plan.burst_seconds
            )
            detail = f"{n} workouts committed in {took:.1f} s"
        ok = True
    except Exception as exc:  # the report says which fault could not be made
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    s.journal.faults.append(
        {
            "kind": fault.kind,
            "phase": fault.phase,
            "start": began,
            "end": time.time(),
            "ok": ok,
            "detail": detail,
        }
    )
    s.journal.say(f"fault {fault.kind}: {'done' if ok else 'FAILED'} {detail}")


def events_file(s: Stack) -> Path:
    """The outbox's events as JSON lines, what `coach rollout compare` knows the data by."""
    path = s.root / "events.jsonl"
    path.write_text(s.infra.psql("SELECT payload FROM outbox ORDER BY created_at"))
    return path


def phase_two(s: Stack) -> None:
    """Shadow traffic for a while (with its faults), then the comparison gate."""
    s.journal.say("phase 2: shadow traffic and the comparison gate")
    s.nginx.set_shadow(100)
    faults = run_faults(s, "shadow")
    time.sleep(s.plan.shadow_seconds)
    faults.join()
    s.nginx.set_shadow(0)
    wait_until("both replicas ready", lambda: all(ready(r) for r in s.replicas), 120, 0.5)
    monolith = f"http://{s.infra.monolith}"
    # Each user's token from the monolith's issuer, as clients hold them: both sides verify it.
    done = subprocess.run(
        [str(BIN / "coach"), "rollout", "compare", "--coach", s.a.url, "--monolith", monolith,
         "--events", str(events_file(s)), "--users", str(s.plan.compare_users), "--json",
         "--token-url", f"{monolith}/oauth/token"],
        env=base_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = {"verdict": "error", "output": (done.stdout + done.stderr)[-2000:]}
    s.journal.compare = {
        "exit": done.returncode,
        "verdict": report.get("verdict"),
        "reasons": report.get("reasons", []),
        "broken": report.get("broken", {}),
    }


def canary(s: Stack, name: str, steps: str, hold: float, timeout: float) -> dict[str, Any]:
    """`coach rollout canary start` until it exits (or `timeout`); its exit and decisions."""
    state = s.root / "canary" / name
    args = [
        str(BIN / "coach"), "rollout", "canary", "start", "--state-dir", str(state),
        "--access-log", str(s.nginx.access_log), "--conf", str(s.nginx.conf),
        "--set-percent", str(REPO / "deploy/nginx/set-percent.sh"), "--steps", steps,
        "--hold", str(hold), "--analysis-interval", str(s.plan.analysis_interval),
        "--max-extension", str(max(30.0, hold * 3)), "--min-requests", str(s.plan.min_requests),
        "--prometheus-url", s.prometheus.url,
        *(x for r in s.replicas for x in ("--coach", r.url)),
    ]  # fmt: skip
    env = s.nginx.env | {"PATH": base_env()["PATH"]}
    env = {k: v for k, v in env.items() if k not in ("COACH_UPSTREAMS", "LISTEN_PORT")}
    began = time.time()
    s.procs.start(f"canary-{name}", args, env, REPO)
    popen = s.procs.procs[f"canary-{name}"].popen
    assert popen is not None
    try:
        code: int | None = popen.wait(timeout)
    except subprocess.TimeoutExpired:
        code = None
    result = {"name": name, "start": began, "end": time.time(), "exit": code,
              "decisions": decisions(state)}  # fmt: skip
    s.journal.canaries.append(result)
    return result


def decisions(state: Path) -> list[dict[str, Any]]:
    path = state / "decisions.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def phase_three(s: Stack) -> None:
    """The canary to 100 % (with its faults), the rollback drill, the canary again."""
    s.journal.say("phase 3: the canary to 100 %")
    per_step = s.plan.hold + 4 * s.plan.analysis_interval + 60
    steps = s.plan.steps.count(",") + 1
    faults = run_faults(s, "canary")
    first = canary(s, "first", s.plan.steps, s.plan.hold, steps * per_step)
    faults.join()
    if first["exit"] != 0:
        s.journal.notes.append(f"the first canary exited {first['exit']}, not 0")
    drill(s)
    s.journal.say("phase 3: the canary again to 100 %")
    wait_until("both replicas ready", lambda: all(ready(r) for r in s.replicas), 120, 0.5)
    again = canary(s, "again", s.plan.steps, s.plan.hold, steps * per_step)
    if again["exit"] != 0:
        s.journal.notes.append(f"the second canary exited {again['exit']}, not 0")


def drill(s: Stack) -> None:
    """The rollback drill under a canary holding 100 %: b's api frozen (SIGSTOP), then killed.
    With a's api still ready, nginx routes around b and the RUNBOOK has the canary hold (never
    pass) the step; so a's api is frozen too, and from then on the canary must roll back within
    the RUNBOOK's bound (F x I + P + the reload). a is thawed (SIGCONT) and b started again."""
    s.journal.say("the rollback drill: b's api frozen, then killed; then a's frozen")
    thread = threading.Thread(
        target=canary, args=(s, "drill", "100", 3600, s.plan.drill_seconds * 4), daemon=True
    )
    thread.start()
    wait_until("the drill's canary at 100 %", lambda: _percent(s) == 100, 60)
    time.sleep(2 * s.plan.analysis_interval)
    frozen_b = time.time()
    s.procs.signal("b-api", signal.SIGSTOP)
    time.sleep(3 * s.plan.analysis_interval + 2)
    held_with_b_frozen = _percent(s) == 100
    s.procs.kill9("b-api")
    time.sleep(3 * s.plan.analysis_interval + 2)
    held_with_b_dead = _percent(s) == 100
    frozen_a = time.time()
    s.procs.signal("a-api", signal.SIGSTOP)
    wait_until_or(lambda: _percent(s) == 0, s.plan.drill_seconds)
    rolled_back = time.time() if _percent(s) == 0 else None
    s.procs.signal("a-api", signal.SIGCONT)
    thread.join(s.plan.drill_seconds)
    if s.procs.alive("canary-drill"):
        s.procs.stop("canary-drill")
    s.b.start_api(s.procs)
    took = None if rolled_back is None else rolled_back - frozen_a
    s.journal.drill = {
        "held with b frozen": held_with_b_frozen, "held with b killed": held_with_b_dead,
        "seconds to roll back once a froze too": None if took is None else round(took, 2),
        "bound": s.plan.rollback_bound,
        "ok": held_with_b_frozen and held_with_b_dead and took is not None
        and took <= s.plan.rollback_bound,
    }  # fmt: skip
    for kind, began, ended in (
        ("drill: b's api SIGSTOP, then kill -9", frozen_b, frozen_a),
        ("drill: a's api SIGSTOP", frozen_a, rolled_back or time.time()),
    ):
        s.journal.faults.append({"kind": kind, "phase": "drill", "start": began, "end": ended,
                                 "ok": True, "detail": ""})  # fmt: skip


def wait_until_or(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.1)


def _percent(s: Stack) -> int | None:
    from rollout.probes import percent_from_conf

    return percent_from_conf(s.nginx.conf.read_text())


def sample_lag(s: Stack, out: Path, stop: threading.Event) -> None:
    """Each replica's /lag every second, as JSON lines (t, replica, lag, data age), and the
    share nginx gives coach (t, percent)."""
    with open(out, "a") as f:
        while not stop.wait(1.0):
            for r in s.replicas:
                try:
                    lag = get_json(f"{r.url}/lag", timeout=1)
                    row = {"t": time.time(), "replica": r.name, "lag": lag.get("total_lag"),
                           "age": lag.get("data_age_seconds")}  # fmt: skip
                except (OSError, ValueError):
                    row = {"t": time.time(), "replica": r.name, "lag": None, "age": None}
                f.write(json.dumps(row) + "\n")
            with contextlib.suppress(OSError):
                f.write(json.dumps({"t": time.time(), "percent": _percent(s)}) + "\n")
            f.flush()
