"""Running coach's real commands as subprocesses against the real broker."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from config.settings import Settings
from tests.conftest import env_of

COACH = str(Path(sys.executable).parent / "coach")


def coach(
    settings: Settings, *args: str, input: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run `coach ARGS` to completion with the settings' environment."""
    result = subprocess.run(
        [COACH, *args], env=env_of(settings), input=input, capture_output=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"coach {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return result


class Service:
    """A long-running `coach` command (consume, api, run) with its log in a file."""

    def __init__(self, settings: Settings, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [COACH, *args], env=env_of(settings), stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()
        return code


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    what: str, predicate: Callable[[], Any], timeout: float = 60, service: Service | None = None
) -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if service is not None and service.proc.poll() is not None:
            raise AssertionError(
                f"{what}: the process exited ({service.proc.returncode}):\n{service.log()[-3000:]}"
            )
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # not ready yet
            last = exc
        time.sleep(0.2)
    tail = service.log()[-3000:] if service else ""
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{tail}")


def stats(settings: Settings) -> dict[str, Any]:
    return json.loads(coach(settings, "stats").stdout)


def produce_raw(settings: Settings, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    """Send records as they are (poison, tombstones) to the broker."""

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for topic, key, value in records:
                await producer.send_and_wait(topic, value=value, key=key)
        finally:
            await producer.stop()

    asyncio.run(send())


def lines(events: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)
