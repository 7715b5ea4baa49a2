"""The rehearsal's processes: each started in a session of its own with its output in a file,
known by name so that a fault can kill one and start it again, and all stopped at the end
(in reverse order), also on Ctrl-C and SIGTERM (`Processes.install_signal_handlers`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived: unwind, stopping everything."""


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None


@dataclass
class Processes:
    root: Path
    procs: dict[str, Proc] = field(default_factory=dict)
    cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def start(
        self, name: str, args: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> Proc:
        proc = self.procs.get(name) or Proc(name, args, env, self.root / "logs" / f"{name}.log")
        proc.args, proc.env, proc.cwd = args, env, cwd
        proc.log.parent.mkdir(parents=True, exist_ok=True)
        with open(proc.log, "ab") as out:
            proc.popen = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=cwd,
            )  # fmt: skip
        self.procs[name] = proc
        return proc

    def restart(self, name: str) -> Proc:
        proc = self.procs[name]
        return self.start(name, proc.args, proc.env, proc.cwd)

    def pid(self, name: str) -> int:
        popen = self.procs[name].popen
        assert popen is not None
        return popen.pid

    def alive(self, name: str) -> bool:
        popen = self.procs[name].popen
        return popen is not None and popen.poll() is None

    def signal(self, name: str, sig: int) -> None:
        """`sig` to the process's whole session (a `coach consume` has its writer child)."""
        if self.alive(name):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid(name), sig)

    def kill9(self, name: str) -> None:
        self.signal(name, signal.SIGKILL)
        popen = self.procs[name].popen
        if popen is not None:
            popen.wait(30)

    def stop(self, name: str, timeout: float = 20) -> None:
        popen = self.procs[name].popen
        if popen is None or popen.poll() is not None:
            return
        self.signal(name, signal.SIGCONT)  # a frozen process cannot take SIGTERM
        self.signal(name, signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(name, signal.SIGKILL)
            popen.wait(10)

    def on_exit(self, what: str, cleanup: Callable[[], None]) -> None:
        """`cleanup` runs at stop_all, after the processes started after it are stopped."""
        self.cleanups.append((what, cleanup))

    def stop_all(self) -> list[str]:
        """Stop every process (newest first) and run every cleanup; the failures, by name."""
        problems = []
        for name in reversed(list(self.procs)):
            try:
                self.stop(name)
            except Exception as exc:  # keep stopping the others
                problems.append(f"{name}: {exc}")
        for what, cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as exc:
                problems.append(f"{what}: {exc}")
        self.cleanups.clear()
        return problems

    def tail(self, name: str, chars: int = 3000) -> str:
        log = self.procs[name].log if name in self.procs else self.root / "logs" / f"{name}.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else f"(no {log})"


def install_signal_handlers() -> None:
    """The first SIGTERM or SIGINT raises Interrupted in the main thread: the run unwinds and
    stops all. Later ones are ignored, so that a second signal (a wrapper passing its own on,
    an impatient Ctrl-C) cannot cut the stopping short and leave servers behind."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if received:
            return
        received.append(signum)
        raise Interrupted(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def wait_until(what: str, check: Callable[[], object], timeout: float, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # not yet
            last = exc
        time.sleep(every)
    raise TimeoutError(f"{what} not within {timeout:.0f} s (last: {last!r})")
