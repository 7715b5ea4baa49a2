"""`coach rollout canary pause|abort|status`: what an operator asks of a rollout, from any
shell. With a controller running on the same --state-dir, pause and abort are requests it
takes within one poll (abort waits until nginx is back at 0 %); with none, they are done
here, on the state file and nginx. The controller's own commands are in rollout/canary_cli.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import click

from rollout.state import FINAL, Action, ControllerRunning, State, StateDir, StateFileError

STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".coach-canary"),
    show_default=True,
    help="The rollout's state, decision log, metrics file and requests.",
)


def load_state(dirs: StateDir) -> State:
    if not dirs.exists():
        raise click.ClickException(f"no rollout in {dirs.root} (start one with `start`)")
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
    never advanced until `resume`."""
    dirs = StateDir(state_dir)
    _ask(dirs, "pause", lambda s: s.status in ("paused", *FINAL), wait)


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
    """Return every user to the monolith at once (0 %) and end the rollout."""
    dirs = StateDir(state_dir)
    # The controller saves "aborted" before it runs set-percent 0, and exits after: wait
    # for both (its lock is released when it exits).
    _ask(dirs, "abort", lambda s: s.status in FINAL and not dirs.controller_running(), wait)


def _ask(dirs: StateDir, action: Action, done: Callable[[State], bool], wait: float) -> None:
    """`action` by the running controller (a request, then wait until `done`), or here
    when none runs."""
    load_state(dirs)
    if not dirs.controller_running():
        _offline(dirs, action)
        return
    dirs.request(action)
    state = _wait_for(dirs, done, wait)
    if state is None:
        raise click.ClickException(f"the controller did not {action} within {wait:g} s")
    click.echo(f"{state.status} at {state.percent} %")


def _offline(dirs: StateDir, action: str) -> None:
    """pause or abort with no controller running: done here, on the state file (and nginx)."""
    from rollout import canary
    from rollout.controller import Controller, SetPercentFailed

    try:
        with dirs.controller_lock():
            state = load_state(dirs)
            controller = Controller(dirs, state)
            new, decisions = canary.on_request(state, action, now=time.time())
            if not decisions:
                click.echo(f"nothing to do: the rollout is {state.status}")
                return
            controller.commit(new, decisions, {})
    except ControllerRunning as exc:
        raise click.ClickException(f"{exc}: try again") from exc
    except SetPercentFailed as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{controller.state.status} at {controller.state.percent} %")


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
    """Print the rollout's state as JSON, and its last decisions."""
    dirs = StateDir(state_dir)
    state = load_state(dirs)
    out = state.as_dict()
    out["controller_running"] = dirs.controller_running()
    if dirs.decision_log.exists() and decisions > 0:
        lines = dirs.decision_log.read_text().splitlines()[-decisions:]
        out["last_decisions"] = [json.loads(line) for line in lines]
    click.echo(json.dumps(out, indent=2))
