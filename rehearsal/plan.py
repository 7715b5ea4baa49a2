"""What a rehearsal does and when: its sizes, its phases and its fault schedule (pure data).

`full()` is `make rehearsal` (100 users, the canary's step list from 5 %, a 30 s broker outage,
a burst of 5,000 workouts in 10 s); `short()` is the version `make test` runs (fewer users,
shorter phases, the same kinds of faults made smaller). Faults are given in seconds after the
start of the phase they belong to, so that the report can place each one on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FAULTS = (
    "kill_consumer",  # kill -9 of replica b's `coach consume`, restarted
    "kill_api",  # kill -9 of replica b's `coach api`, restarted
    "kill_connect",  # kill -9 of Kafka Connect, restarted
    "broker_outage",  # the rehearsal's broker stopped for `outage_seconds`, restarted
    "restart_postgres",  # PostgreSQL stopped as a crash (immediate) and started again
    "burst",  # `burst_workouts` workouts committed in `burst_seconds`
)


@dataclass(frozen=True)
class Fault:
    phase: str
    at: float
    """Seconds after the phase started."""
    kind: str


@dataclass(frozen=True)
class Plan:
    name: str
    users: int
    """Locust's concurrent users for the whole run."""
    seed_users: int
    seed_workouts: int
    """Workouts logged (yesterday) before coach starts: what the backfill publishes."""
    erasable_users: int
    """Users outside the load's range, erased during the run."""
    legacy_delay: tuple[float, float]
    shadow_seconds: float
    compare_users: int
    steps: str
    hold: float
    analysis_interval: float
    min_requests: int
    drill_seconds: float
    """The longest the rollback drill waits for the canary's rollback."""
    outage_seconds: float
    burst_workouts: int
    burst_seconds: float
    settle_seconds: float
    """How long the accounting waits for both replicas to apply the last events."""
    faults: tuple[Fault, ...] = field(default=())

    @property
    def rollback_bound(self) -> float:
        """The RUNBOOK's bound for a rollback after a failure at t: F x I + P + the reload,
        with F = 2 failures, P = min(2 s, I / 2) and a second for the reload."""
        return 2 * self.analysis_interval + min(2.0, self.analysis_interval / 2) + 1.0


def full() -> Plan:
    return Plan(
        name="full",
        users=100,
        seed_users=2000,
        seed_workouts=4000,
        erasable_users=20,
        legacy_delay=(0.3, 1.5),
        shadow_seconds=60,
        compare_users=200,
        # Not 1 %: nginx splits by token, and 100 concurrent seed users are ~95 tokens, so
        # 1 % is one user or none and the step can never gather --min-requests (the first
        # full run paused there, inconclusive, with 44 requests on coach in 11 minutes).
        steps="5,10,25,50,100",
        hold=40,
        analysis_interval=5,
        min_requests=50,
        drill_seconds=60,
        outage_seconds=30,
        burst_workouts=5000,
        burst_seconds=10,
        settle_seconds=120,
        faults=(
            Fault("shadow", 10, "kill_consumer"),
            Fault("shadow", 25, "kill_connect"),
            Fault("canary", 60, "kill_api"),
            Fault("canary", 100, "restart_postgres"),
            Fault("canary", 140, "burst"),
            Fault("canary", 170, "broker_outage"),
        ),
    )


def short() -> Plan:
    return Plan(
        name="short",
        users=12,
        seed_users=300,
        seed_workouts=400,
        erasable_users=4,
        legacy_delay=(0.05, 0.3),
        shadow_seconds=8,
        compare_users=60,
        steps="50,100",
        hold=6,
        analysis_interval=1,
        min_requests=5,
        drill_seconds=20,
        outage_seconds=8,
        burst_workouts=500,
        burst_seconds=3,
        settle_seconds=60,
        faults=(
            Fault("shadow", 2, "kill_consumer"),
            Fault("shadow", 4, "kill_connect"),
            Fault("canary", 2, "kill_api"),
            Fault("canary", 4, "restart_postgres"),
            Fault("canary", 6, "burst"),
            Fault("canary", 8, "broker_outage"),
        ),
    )


def faults_of(plan: Plan, phase: str) -> list[Fault]:
    """The faults of `phase`, in the order they come."""
    return sorted((f for f in plan.faults if f.phase == phase), key=lambda f: f.at)
