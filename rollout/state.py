"""The canary's state directory: what survives a restart of the controller, and how another
shell talks to a running one.

    STATE_DIR/state.json      the rollout: config, step, percent, status, counts, the window
                              of the access log not yet analysed (written atomically: a
                              temporary file, fsync, rename)
    STATE_DIR/request.json    an operator's request (pause, resume, abort), written by another
                              `coach rollout canary` and removed by the controller when taken
    STATE_DIR/decisions.jsonl one JSON line per decision, appended
    STATE_DIR/metrics.prom    the rollout's metrics in Prometheus' text format
    STATE_DIR/controller.lock held (flock) by the running controller: one at a time
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from rollout.access_log import Position
from rollout.analysis import Side, Thresholds

VERSION = 1
Status = Literal["running", "holding", "paused", "aborted", "rolled_back", "done"]
STATUSES: tuple[Status, ...] = ("running", "holding", "paused", "aborted", "rolled_back", "done")
FINAL: frozenset[str] = frozenset({"aborted", "rolled_back", "done"})
Action = Literal["pause", "resume", "abort"]
ACTIONS: tuple[Action, ...] = ("pause", "resume", "abort")
DEFAULT_STEPS = (1, 5, 10, 25, 50, 100)


class StateFileError(Exception):
    """The state file cannot be used (unreadable, not JSON, not a canary state)."""


class ControllerRunning(Exception):
    """Another controller holds the state directory."""


@dataclass(frozen=True)
class Config:
    """What a rollout was started with; kept in the state so that a resume runs the same."""

    steps: tuple[int, ...] = DEFAULT_STEPS
    hold_seconds: float = 600.0  # each step, at least
    analysis_seconds: float = 60.0  # between analyses: the rollback bound's unit
    max_failures: int = 2  # failed analyses within a step before rolling back
    max_extension_seconds: float = 1800.0  # a step held past hold + this is inconclusive
    poll_seconds: float = 1.0  # how often operator requests are looked for
    access_log: str = "/var/log/nginx/access.log"
    conf: str = "/etc/nginx/conf.d/coach.conf"
    set_percent: str = "deploy/nginx/set-percent.sh"
    coaches: tuple[str, ...] = ()  # base URLs; empty: the conf's coach upstream
    prometheus_url: str | None = None
    dry_run: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["steps"] = tuple(values.get("steps", DEFAULT_STEPS))
        values["coaches"] = tuple(values.get("coaches", ()))
        values["thresholds"] = Thresholds(**values.get("thresholds", {}))
        return cls(**values)


@dataclass
class State:
    config: Config
    status: Status = "running"
    step: int = -1  # index into config.steps; -1 before the first
    percent: int = 0
    step_started_at: float = 0.0  # wall clock (it must survive a restart)
    failures: int = 0  # failed analyses in this step
    passes: int = 0  # passing analyses in this step
    window: Position | None = None  # start of the access log not yet analysed
    baseline: Side | None = None  # the monolith's figures of the last conclusive window
    reason: str = ""  # why paused / rolled back / aborted
    counts: dict[str, int] = field(default_factory=dict)  # decisions so far, by name
    updated_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "status": self.status,
            "step": self.step,
            "percent": self.percent,
            "step_started_at": self.step_started_at,
            "failures": self.failures,
            "passes": self.passes,
            "window": None if self.window is None else asdict(self.window),
            "baseline": None if self.baseline is None else self.baseline.as_dict(),
            "reason": self.reason,
            "counts": self.counts,
            "updated_at": self.updated_at,
            "config": self.config.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> State:
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, expected an object")
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
        if data["status"] not in STATUSES:
            raise ValueError(f"unknown status {data['status']!r}")
        window = data.get("window")
        baseline = data.get("baseline")
        return cls(
            config=Config.from_dict(data["config"]),
            status=data["status"],
            step=int(data["step"]),
            percent=int(data["percent"]),
            step_started_at=float(data["step_started_at"]),
            failures=int(data["failures"]),
            passes=int(data["passes"]),
            window=None if window is None else Position(**window),
            baseline=None if baseline is None else Side.from_dict(baseline),
            reason=str(data.get("reason", "")),
            counts={str(k): int(v) for k, v in data.get("counts", {}).items()},
            updated_at=float(data.get("updated_at", 0.0)),
        )


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename: a reader sees the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # the rename itself, durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class StateDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_file = root / "state.json"
        self.request_file = root / "request.json"
        self.decision_log = root / "decisions.jsonl"
        self.metrics_file = root / "metrics.prom"
        self.lock_file = root / "controller.lock"

    def exists(self) -> bool:
        return self.state_file.exists()

    def load(self) -> State:
        try:
            text = self.state_file.read_text()
        except OSError as exc:
            raise StateFileError(f"cannot read {self.state_file}: {exc}") from exc
        try:
            return State.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateFileError(
                f"{self.state_file} is not a usable canary state ({type(exc).__name__}: {exc}). "
                "Nothing was changed. Look at it, then fix it, or move it aside and run "
                "`coach rollout canary start` again (nginx keeps its current percentage)."
            ) from exc

    def save(self, state: State) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomically(self.state_file, json.dumps(state.as_dict(), indent=2) + "\n")

    def append_decision(self, record: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.decision_log, "a") as f:
            f.write(json.dumps(record, sort_keys=False) + "\n")

    # -- requests from another shell --------------------------------------------------------

    def request(self, action: Action) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomically(self.request_file, json.dumps({"action": action}) + "\n")

    def take_request(self) -> Action | str | None:
        """The pending request, removed; a request that cannot be read is returned as its
        text (and removed), so that the controller can log it."""
        try:
            text = self.request_file.read_text()
        except FileNotFoundError:
            return None
        self.request_file.unlink(missing_ok=True)
        try:
            action = json.loads(text)["action"]
        except (ValueError, KeyError, TypeError):
            return text.strip()
        return action if action in ACTIONS else str(action)

    # -- one controller at a time -----------------------------------------------------------

    @contextlib.contextmanager
    def controller_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ControllerRunning(f"a controller is running on {self.root}") from exc
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)

    def controller_running(self) -> bool:
        try:
            with self.controller_lock():
                return False
        except ControllerRunning:
            return True
