"""`coach rollout canary start|resume|status|pause|abort`: the automated canary.

`start` and `resume` run the controller in the foreground until the rollout is done (exit
0), rolled back (3) or aborted (4). `pause`, `resume` and `abort` given while a controller
runs on the same --state-dir are requests it takes within one poll; each waits until the
controller has taken it (so that one typed next cannot replace it unread), and `abort` until
nginx is back at 0 %. pause, abort and status live in rollout/canary_requests.py. See
docs/RUNBOOK.md, "Phase 3: the automated canary".
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from rollout.analysis import Thresholds
from rollout.canary_requests import STATE_DIR, abort, ask_resume, load_state, pause, status
from rollout.state import (
    DEFAULT_STEPS,
    FINAL,
    Config,
    ControllerRunning,
    State,
    StateDir,
    StateFileError,
)
from rollout.where import dirs_for, where

METRICS_PORT = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Also serve the metrics on http://127.0.0.1:PORT/metrics.",
)


def _steps(_ctx: Any, _param: Any, value: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("comma-separated whole percentages, e.g. 1,5,25,100") from None
    if not steps or any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(set(steps)):
        raise click.BadParameter("rising percentages between 1 and 100, e.g. 1,5,25,100")
    return steps


def _run(dirs: StateDir, state: State, metrics_port: int | None, *, new: bool) -> None:
    from rollout.controller import EXIT_STOPPED, Controller, SetPercentFailed
    from rollout.metrics import RolloutMetrics

    def stop(signum: int, _frame: Any) -> None:
        try:
            where = f"at {dirs.load().percent} %"
        except StateFileError:
            where = "before the first step"
        click.echo(
            f"stopped by signal {signum} {where}: nginx stays as it is; "
            "`coach rollout canary resume` goes on",
            err=True,
        )
        sys.exit(EXIT_STOPPED)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    metrics = RolloutMetrics()
    if metrics_port is not None:
        metrics.serve(metrics_port)
    try:
        with dirs.controller_lock():
            code = Controller(dirs, state, metrics=metrics).run(new=new)
    except ControllerRunning as exc:
        raise click.ClickException(f"{exc}: use pause, resume or abort") from exc
    except SetPercentFailed as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@click.group()
def canary() -> None:
    """Raise coach's share of users step by step, analysing each step; roll back on failure."""


@canary.command()
@STATE_DIR
@click.option(
    "--access-log",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="nginx's access log (coach_routing format), read from where it was left.",
)
@click.option(
    "--conf",
    default="/etc/nginx/conf.d/coach.conf",
    show_default=True,
    help="The rendered coach.conf that set-percent.sh rewrites.",
)
@click.option(
    "--set-percent",
    "set_percent",
    default="deploy/nginx/set-percent.sh",
    show_default=True,
    help="The script that moves traffic (COACH_NGINX_BIN, COACH_NGINX_ARGS pass).",
)
@click.option(
    "--steps",
    default=",".join(map(str, DEFAULT_STEPS)),
    show_default=True,
    callback=_steps,
    help="The percentages, in order.",
)
@click.option(
    "--hold",
    type=click.FloatRange(min=0),
    default=600,
    show_default=True,
    help="Seconds each step is held at least (and analysed throughout).",
)
@click.option(
    "--analysis-interval",
    type=click.FloatRange(min=0.05),
    default=60,
    show_default=True,
    help="Seconds between analyses.",
)
@click.option(
    "--max-failures",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Failed analyses within a step that roll back to 0 %.",
)
@click.option(
    "--max-extension",
    type=click.FloatRange(min=0),
    default=1800,
    show_default=True,
    help="Seconds a step may be held past --hold for lack of traffic before it is "
    "inconclusive (paused, never advanced).",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between looks for pause/resume/abort requests.",
)
@click.option(
    "--coach",
    "coaches",
    multiple=True,
    help="A coach replica's base URL (repeat); default: the conf's coach upstream.",
)
@click.option(
    "--prometheus-url",
    default=None,
    help='Fail a step while an alert with service="coach" fires (else skipped).',
)
@click.option(
    "--min-requests",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Requests per side and analysis below which the step holds.",
)
@click.option("--max-fallback-ratio", type=float, default=0.01, show_default=True)
@click.option(
    "--max-error-factor",
    type=float,
    default=2.0,
    show_default=True,
    help="coach's error ratio may be at most the monolith's times this ...",
)
@click.option("--error-margin", type=float, default=0.005, show_default=True, help="... plus this.")
@click.option(
    "--max-latency-ratio",
    type=float,
    default=1.5,
    show_default=True,
    help="coach's p99 may be at most the monolith's times this ...",
)
@click.option(
    "--latency-floor",
    type=float,
    default=0.1,
    show_default=True,
    help="... and always passes under this many seconds.",
)
@click.option(
    "--max-lag",
    type=int,
    default=1000,
    show_default=True,
    help="Records behind (worst replica's /lag).",
)
@click.option(
    "--max-data-age",
    type=float,
    default=300,
    show_default=True,
    help="Seconds (worst replica's /lag data_age_seconds).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Read and decide; never call set-percent. State in DIR/dry-run, no metrics file.",
)
@METRICS_PORT
def start(state_dir: Path, metrics_port: int | None, **options: Any) -> None:
    """Start a rollout from nginx's current percentage and run it to the end."""
    from rollout.probes import percent_from_conf

    dry_run = options["dry_run"]
    if dry_run and metrics_port is not None:
        raise click.UsageError(
            "--metrics-port is not served on a --dry-run (its figures are not nginx's)"
        )
    dirs = dirs_for(state_dir, dry_run=dry_run)
    kind = "a DRY RUN (nginx is never changed)" if dry_run else "a real rollout"
    click.echo(f"coach rollout canary start: state dir {dirs.root.resolve()}: {kind}", err=True)
    if dirs.exists() and not (dry_run and not dirs.controller_running()):
        old = load_state(dirs)
        if old.status not in FINAL:
            raise click.ClickException(
                f"a rollout is {old.status} at {old.percent} % in {dirs.root}: "
                "resume it or abort it first"
            )
    thresholds = Thresholds(
        min_requests=options.pop("min_requests"),
        max_fallback_ratio=options.pop("max_fallback_ratio"),
        max_error_factor=options.pop("max_error_factor"),
        error_margin=options.pop("error_margin"),
        max_latency_ratio=options.pop("max_latency_ratio"),
        latency_floor_seconds=options.pop("latency_floor"),
        max_lag_records=options.pop("max_lag"),
        max_data_age_seconds=options.pop("max_data_age"),
    )
    config = Config(
        steps=options["steps"],
        hold_seconds=options["hold"],
        analysis_seconds=options["analysis_interval"],
        max_failures=options["max_failures"],
        max_extension_seconds=options["max_extension"],
        poll_seconds=options["poll"],
        access_log=str(options["access_log"]),
        conf=options["conf"],
        set_percent=options["set_percent"],
        coaches=tuple(options["coaches"]),
        prometheus_url=options["prometheus_url"],
        dry_run=options["dry_run"],
        thresholds=thresholds,
    )
    current = 0
    try:
        current = percent_from_conf(Path(config.conf).read_text()) or 0
    except OSError as exc:
        if not config.dry_run:
            raise click.ClickException(f"cannot read {config.conf}: {exc}") from exc
    # Start at the highest step at or below nginx's current share (-1: none yet).
    step = max((i for i, s in enumerate(config.steps) if s <= current), default=-1)
    state = State(config=config, step=step, percent=current, step_started_at=time.time())
    _run(dirs, state, metrics_port, new=True)


@canary.command()
@STATE_DIR
@METRICS_PORT
@click.option(
    "--wait",
    type=float,
    default=30,
    show_default=True,
    help="Seconds to wait for the running controller to take the request.",
)
def resume(state_dir: Path, metrics_port: int | None, wait: float) -> None:
    """Resume a paused rollout; or, with no controller running (killed, restarted), run it
    again from its step (the same percentage rendered again). With a controller running,
    returns once it has taken the request, so that a request given next (abort) cannot
    replace this one before it is read."""
    dirs = StateDir(state_dir)
    state = load_state(dirs)
    click.echo(where(dirs, state).banner("resume"), err=True)
    if dirs.controller_running():
        ask_resume(dirs, wait)
        return
    if state.status == "done":
        raise click.ClickException("this rollout is done: nothing to resume")
    if state.status in FINAL:
        raise click.ClickException(
            f"this rollout was {state.status} ({state.reason}); start a new one"
        )
    _run(dirs, state, metrics_port, new=False)


for _command in (pause, abort, status):
    canary.add_command(_command)
