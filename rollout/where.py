"""Which rollout a canary command acts on, and whether nginx agrees with it.

An operator's command names a state directory (--state-dir, default .coach-canary). Before it
reports anything, each command says which directory that is, whether its rollout is a dry
run, and whether a controller is running on it; `status`, `pause` and `abort` then compare
the percentage nginx's configuration really holds (the conf file the rollout renders) with
the state's. A command that would otherwise report on a rollout that does not drive nginx
(a dry run's, a stale one's, another directory's) fails instead, saying why.

A dry run keeps its state in DIR/dry-run, never in DIR: it must not leave a rollout that
`status` or `abort` would take for the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rollout.probes import percent_from_conf
from rollout.state import FINAL, State, StateDir

DRY_RUN_DIR = "dry-run"


def dirs_for(state_dir: Path, *, dry_run: bool) -> StateDir:
    """The state directory a start acts on: DIR for a real rollout, DIR/dry-run for a dry
    run."""
    return StateDir(state_dir / DRY_RUN_DIR if dry_run else state_dir)


def nginx_percent(conf: str) -> tuple[int | None, str | None]:
    """The percentage nginx's rendered configuration holds, or why it cannot be known."""
    try:
        text = Path(conf).read_text()
    except OSError as exc:
        return None, f"cannot read nginx's configuration {conf}: {exc.strerror or exc}"
    percent = percent_from_conf(text)
    if percent is None:
        return None, f"{conf} holds no coach percentage (not rendered from coach.conf.template?)"
    return percent, None


@dataclass(frozen=True)
class Where:
    """What a command found: the directory, the kind of rollout, and nginx's percentage."""

    root: Path
    dry_run: bool
    controller_running: bool
    status: str
    percent: int
    nginx_percent: int | None
    nginx_problem: str | None

    def banner(self, command: str) -> str:
        kind = "a DRY RUN (nginx is never changed)" if self.dry_run else "a real rollout"
        running = "a controller is running" if self.controller_running else "no controller runs"
        nginx = (
            f"nginx at {self.nginx_percent} %"
            if self.nginx_percent is not None
            else f"nginx unknown: {self.nginx_problem}"
        )
        return (
            f"coach rollout canary {command}: state dir {self.root.resolve()}: {kind}, "
            f"{self.status} at {self.percent} %; {running}; {nginx}"
        )

    def idle(self) -> str | None:
        """A live rollout that no controller runs: nothing moves traffic from this state."""
        if self.status in FINAL or self.controller_running:
            return None
        return (
            f"no controller is running on {self.root}: nothing moves traffic from this "
            "state (`resume` runs it again; a controller with another --state-dir may be "
            "the one moving nginx)"
        )

    def disagreement(self) -> str | None:
        """nginx's configuration is not at this real rollout's percentage (a dry run's
        percentage is only the one it would have set)."""
        if self.dry_run:
            return None
        if self.nginx_problem is not None:
            return self.nginx_problem
        if self.nginx_percent != self.percent:
            return (
                f"nginx is at {self.nginx_percent} % but this state says {self.percent} %: "
                "the rollout moving nginx is not this one (another --state-dir, or "
                "set-percent.sh run by hand)"
            )
        return None

    def problems(self) -> list[str]:
        """Why this state does not describe what nginx does (empty: it does)."""
        return [p for p in (self.idle(), self.disagreement()) if p is not None]


def where(dirs: StateDir, state: State) -> Where:
    actual, problem = nginx_percent(state.config.conf)
    return Where(
        root=dirs.root,
        dry_run=state.config.dry_run,
        controller_running=dirs.controller_running(),
        status=state.status,
        percent=state.percent,
        nginx_percent=actual,
        nginx_problem=problem,
    )


def missing_hint(state_dir: Path) -> str:
    """Said when DIR has no rollout: a dry run's state lives beside it, in DIR/dry-run."""
    if (state_dir / DRY_RUN_DIR / "state.json").exists():
        return (
            f" (a dry run's state is in {state_dir / DRY_RUN_DIR}: pass that as --state-dir "
            "to look at the dry run)"
        )
    return ""
