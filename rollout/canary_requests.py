"""`coach rollout canary pause|abort|status`: what an operator asks of a rollout, from any
shell. Each first says which state directory it acts on, whether that rollout is a dry run,
whether a controller runs on it and where nginx is (rollout/where.py), and fails, changing
nothing, when that state does not drive nginx: a live rollout with no controller, or a
state whose percentage is not the one nginx's configuration holds. With a controller
running, pause and abort are requests it takes within one poll (abort waits until nginx is
back at 0 %, and checks it in the conf). The controller's own commands are in
rollout/canary_cli.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import click

from rollout.state import FINAL, Action, ControllerRunning, State, StateDir, StateFileError
from rollout.where import Where, missing_hint, nginx_percent, where

STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".coach-canary"),
    show_default=True,
    help="The rollout's state, decision log, metrics file and requests.",
)


def load_state(dirs: StateDir) -> State:
    if not dirs.exists():
        raise click.ClickException(
            f"no rollout in {dirs.root} (start one with `start`){missing_hint(dirs.root)}"
        )
    try:
        return dirs.load()
    except StateFileError as exc:
        raise click.ClickException(str(exc)) from exc


def _wait_for(dirs: StateDir, done: Callable[[State], bool], seconds: float) -> State | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = load_state(dirs)
        if done(state):
            return state
        time.sleep(0.05)
    return None


@click.command()
@STATE_DIR
@click.option(
    "--wait",
    type=float,
    default=30,
    show_default=True,
    help="Seconds to wait for the running controller to pause.",
)
def pause(state_dir: Path, wait: float) -> None:
    """Hold the rollout at its percentage: still analysed (a failure still rolls back),
    never advanced until `resume`. Fails when no controller runs on the state directory."""
    dirs = StateDir(state_dir)
    found = _look(dirs, "pause")
    _refuse_unless_driving(found, "pause")
    if found.status in FINAL:
        click.echo(f"nothing to pause: the rollout is {found.status}")
        return
    state = ask(dirs, "pause", lambda s: s.status in ("paused", *FINAL), wait)
    click.echo(f"{_kind(found)}{state.status} at {state.percent} %")


@click.command()
@STATE_DIR
@click.option(
    "--wait",
    type=float,
    default=60,
    show_default=True,
    help="Seconds to wait for the running controller to return nginx to 0 %.",
)
def abort(state_dir: Path, wait: float) -> None:
    """Return every user to the monolith at once (0 %) and end the rollout; then check that
    nginx's configuration says 0 %."""
    dirs = StateDir(state_dir)
    found = _look(dirs, "abort")
    mismatch = found.disagreement()
    if mismatch is not None:
        cfg = load_state(dirs).config
        _fail(
            [mismatch],
            f"Nothing was changed. To send every user to the monolith now: "
            f"{cfg.set_percent} 0 {cfg.conf}, then abort the controller that moves nginx "
            "(with its own --state-dir).",
        )
    if found.status in FINAL:
        click.echo(f"nothing to abort: the rollout is {found.status}")
        return
    if found.controller_running:
        # The controller saves "aborted" before it runs set-percent 0, and exits after:
        # wait for both (its lock is released when it exits).
        state = ask(
            dirs, "abort", lambda s: s.status in FINAL and not dirs.controller_running(), wait
        )
    else:
        state = _offline(dirs, "abort")
    _check_nginx_at(state, 0)
    click.echo(f"{_kind(found)}{state.status} at {state.percent} %")
    if not found.controller_running:
        raise click.ClickException(
            f"no controller was running on {dirs.root}: this rollout was aborted here"
            + ("" if found.dry_run else " and nginx set to 0 %")
            + ". If a controller runs with another --state-dir, abort that one too: it would "
            "move traffic again."
        )


# A running controller moves nginx and its state one after the other (set-percent, then
# the state; a rollback the other way round): they may differ for the length of a reload.
SETTLE_SECONDS = 5.0


def _look(dirs: StateDir, command: str) -> Where:
    """The state directory, its kind and nginx's percentage, said on stderr first. With a
    controller running, a disagreement is looked at again until it settles (a step being
    taken) or SETTLE_SECONDS have passed."""
    found = where(dirs, load_state(dirs))
    deadline = time.monotonic() + SETTLE_SECONDS
    while found.disagreement() and found.controller_running and time.monotonic() < deadline:
        time.sleep(0.1)
        found = where(dirs, load_state(dirs))
    click.echo(found.banner(command), err=True)
    return found


def _kind(found: Where | State) -> str:
    dry_run = found.config.dry_run if isinstance(found, State) else found.dry_run
    return "dry run (nginx not changed): " if dry_run else ""


def _fail(problems: list[str], then: str = "") -> None:
    raise click.ClickException("; ".join(problems) + (f". {then}" if then else ""))


def _refuse_unless_driving(found: Where, action: str) -> None:
    problems = found.problems()
    if problems:
        _fail(problems, f"Nothing was changed: not {action}d.")


def _check_nginx_at(state: State, percent: int) -> None:
    """A real rollout's end: nginx's configuration must say `percent`, else fail."""
    if state.config.dry_run:
        return
    actual, problem = nginx_percent(state.config.conf)
    if actual != percent:
        raise click.ClickException(
            f"the rollout says {state.status} at {state.percent} % but "
            + (problem or f"nginx is at {actual} % ({state.config.conf})")
            + f": run {state.config.set_percent} {percent} {state.config.conf}"
        )


def ask(dirs: StateDir, action: Action, done: Callable[[State], bool], wait: float) -> State:
    """`action` by the running controller: a request, then wait until `done`."""
    dirs.request(action)
    state = _wait_for(dirs, done, wait)
    if state is None:
        raise click.ClickException(f"the controller did not {action} within {wait:g} s")
    return state


def ask_resume(dirs: StateDir, wait: float) -> None:
    """`resume` to the running controller: returns once it has taken the request, so that a
    request given next (abort) cannot replace this one unread."""
    state = ask(
        dirs, "resume", lambda s: not dirs.request_file.exists() and s.status != "paused", wait
    )
    click.echo(f"{_kind(state)}{state.status} at {state.percent} %")


def _offline(dirs: StateDir, action: str) -> State:
    """abort with no controller running: done here, on the state file (and nginx)."""
    from rollout import canary
    from rollout.controller import Controller, SetPercentFailed

    try:
        with dirs.controller_lock():
            state = load_state(dirs)
            controller = Controller(dirs, state)
            new, decisions = canary.on_request(state, action, now=time.time())
            controller.commit(new, decisions, {})
    except ControllerRunning as exc:
        raise click.ClickException(f"{exc}: try again") from exc
    except SetPercentFailed as exc:
        raise click.ClickException(str(exc)) from exc
    return controller.state


@click.command()
@STATE_DIR
@click.option(
    "--decisions",
    type=int,
    default=5,
    show_default=True,
    help="How many of the last decisions to show.",
)
def status(state_dir: Path, decisions: int) -> None:
    """Print the rollout's state as JSON, and its last decisions; exit 1 when it does not
    describe what nginx does (live with no controller, or nginx at another percentage)."""
    dirs = StateDir(state_dir)
    state = load_state(dirs)
    found = where(dirs, state)
    click.echo(found.banner("status"), err=True)
    out = {
        "state_dir": str(dirs.root.resolve()),
        "dry_run": found.dry_run,
        "controller_running": found.controller_running,
        "nginx_percent": found.nginx_percent,
        **state.as_dict(),
    }
    if dirs.decision_log.exists() and decisions > 0:
        lines = dirs.decision_log.read_text().splitlines()[-decisions:]
        out["last_decisions"] = [json.loads(line) for line in lines]
    click.echo(json.dumps(out, indent=2))
    problems = found.problems()
    if problems:
        _fail(problems)
