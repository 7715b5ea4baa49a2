"""`python -m rehearsal [--short] [--out DIR]` (`make rehearsal`): start every part, run the
phases under load with the faults, account for every event, write DIR/report.md and
DIR/timeline.png, stop everything (also on Ctrl-C and SIGTERM). Exit 0 when every promise
held, 1 when one broke, 2 when the rehearsal itself could not run."""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path

from rehearsal import activity, checks, plan
from rehearsal.accounting import account, held_by, truth_from_postgres
from rehearsal.coachside import Nginx, Prometheus, Replica, start_locust
from rehearsal.infra import REPO, Infra, http_status
from rehearsal.phases import Journal, Stack, phase_one, phase_three, phase_two, sample_lag
from rehearsal.procs import Interrupted, Processes, install_signal_handlers, wait_until
from rehearsal.report import write_report


def build(p: plan.Plan, root: Path, procs: Processes, journal: Journal) -> Stack:
    home = root / "state"
    infra = Infra(procs, home)
    journal.say(f"PostgreSQL on {infra.pg_port}, broker on {infra.broker_port}")
    infra.start_postgres()
    infra.start_broker()
    a, b = Replica("a", home, infra), Replica("b", home, infra)
    infra.create_topics(a.env)
    journal.say(f"Kafka Connect (REST {infra.rest_port}) with Debezium's outbox router")
    infra.start_connect()
    infra.start_monolith(p.legacy_delay)
    journal.say("the seed: the catalog and a history, before coach starts")
    extra = range(p.seed_users + 1, p.seed_users + 1 + p.erasable_users)
    activity.seed(infra.monolith, p.seed_users, p.seed_workouts, extra)
    journal.say("replica a; then b from a's snapshot")
    a.start(procs)
    wait_until("a's catalog", lambda: http_status(f"{a.url}/health") == 200, 60)
    a.snapshot_to(b)
    b.start(procs)
    nginx = Nginx(home, [a, b], infra.monolith)
    nginx.start(procs)
    prometheus = Prometheus(home, [a, b], max(1.0, p.analysis_interval))
    prometheus.start(procs)
    return Stack(p, root, procs, infra, a, b, nginx, prometheus, journal)


def agree(stack: Stack) -> dict[str, object]:
    """Yesterday's exercises of a sample of users (some erased) on the three sides."""
    import random

    p = stack.plan
    users = random.Random(29).sample(range(1, p.seed_users + 1), min(50, p.seed_users))
    users += range(p.seed_users + 1, p.seed_users + 1 + min(3, p.erasable_users))
    dbs = {r.name: r.db for r in stack.replicas}
    excluded = checks.excluded_by_sides(stack.infra.database_url, dbs, [str(u) for u in users])
    return {
        "users": len(excluded),
        "users with exercises yesterday": sum(bool(s["monolith"]) for s in excluded.values()),
        "disagreements": checks.disagreements(excluded),
    }


def rehearse(p: plan.Plan, root: Path) -> int:
    procs = Processes(root)
    journal = Journal()
    install_signal_handlers()
    stop = threading.Event()
    stack = None
    accounts = []
    writer = None
    interrupted = False
    started = time.time()
    try:
        stack = build(p, root, procs, journal)
        start_locust(procs, root, stack.nginx, stack.infra.monolith, p.seed_users, p.users)
        sampler = threading.Thread(
            target=sample_lag, args=(stack, root / "lag.jsonl", stop), daemon=True
        )
        sampler.start()
        erasable = list(range(p.seed_users + 1, p.seed_users + 1 + p.erasable_users))
        writer = activity.Writer(stack.infra.monolith, p.seed_users, erasable, 2.0)
        writer.start()
        for name, step in (("1 backfill", phase_one), ("2 shadow", phase_two),
                           ("3 canary", phase_three)):  # fmt: skip
            began = time.time()
            step(stack)
            journal.phases.append((name, began, time.time()))
        writer.stop()
        procs.stop("locust")
        query = checks.prometheus_query(stack.prometheus.url)
        journal.slo = checks.burn_per_phase(query, journal.phases)
        journal.say("accounting: waiting for both replicas to apply the last events")
        truth = truth_from_postgres(stack.infra.psql)
        deadline = time.monotonic() + p.settle_seconds
        while True:
            accounts = [account(r.name, truth, held_by(r.db)) for r in stack.replicas]
            if all(a.ok for a in accounts) or time.monotonic() > deadline:
                break
            time.sleep(2)
        for a in accounts:
            journal.say(a.summary())
        journal.agreement = agree(stack)
    except Interrupted as exc:
        journal.notes.append(f"interrupted by {exc}")
        journal.say(f"interrupted ({exc}): stopping everything")
        interrupted = True
    except Exception:
        journal.notes.append("the rehearsal could not run:\n" + traceback.format_exc())
        journal.say("the rehearsal could not run:\n" + traceback.format_exc())
    finally:
        stop.set()
        if writer is not None:
            writer.stop()
        problems = procs.stop_all()
        for problem in problems:
            journal.notes.append(f"stopping {problem}")
    verdict = write_report(root, p, journal, accounts, started, writer)
    return 130 if interrupted else verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the short version (make test)")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "rehearsal" / "out",
        help="the report's folder (default rehearsal/out/, emptied first)",
    )
    args = parser.parse_args(argv)
    root = args.out.resolve()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    root.chmod(0o755)
    return rehearse(plan.short() if args.short else plan.full(), root)


if __name__ == "__main__":
    sys.exit(main())
