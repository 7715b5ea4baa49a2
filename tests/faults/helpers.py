"""What the fault tests share: a real `coach api` process, concurrent HTTP load on it, the
consumer's offsets read from the file, and a small ext4 file system on a loop device."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import shutil
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest

from config.settings import Settings
from tests.conftest import SECRET
from tests.e2e.helpers import Service, free_port, wait_for


def tokens(count: int, *, users: int = 500, seed: int = 1) -> list[str]:
    """`count` valid tokens (two hours) of users 1..`users`, signed with the tests' secret."""
    now = int(time.time())
    rng = random.Random(seed)
    return [
        jwt.encode(
            {"sub": str(rng.randint(1, users)), "iat": now, "exp": now + 7200},
            SECRET,
            algorithm="HS256",
        )
        for _ in range(count)
    ]


class Api:
    """`coach api` on a free port, with its log in a file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.service = Service(settings, log_path, "api", "--port", str(self.port))
        try:
            wait_for("the api to answer /health", lambda: self.get("/health"), service=self.service)
        except BaseException:
            self.service.stop()
            raise

    def get(self, path: str) -> httpx2.Response:
        return httpx2.get(self.url + path, timeout=5)

    def json(self, path: str) -> Any:
        return self.get(path).json()

    def stop(self) -> int:
        return self.service.stop()


def stop_all(*services: Service | Api | None) -> list[int | None]:
    """Stop each (SIGTERM, then SIGKILL after 30 s), whatever happens to the others; their
    exit codes (None: it could not be stopped cleanly, or was never started)."""
    codes: list[int | None] = []
    for service in services:
        try:
            codes.append(None if service is None else service.stop())
        except Exception:
            codes.append(None)
    return codes


@dataclass
class LoadResult:
    statuses: Counter[int | str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def failures(self) -> int:
        """Every answer that is not a 200, and every request that got no answer."""
        return self.requests - self.statuses[200]

    def percentile(self, p: float) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=1000)[round(p * 10) - 1]

    def summary(self) -> str:
        return (
            f"{self.requests} WOD requests in {self.seconds:.0f} s "
            f"({self.requests / max(self.seconds, 1e-9):.0f} req/s), {self.failures} failed, "
            f"p50 {self.percentile(50):.1f} ms, p99 {self.percentile(99):.1f} ms, "
            f"max {max(self.latencies_ms, default=0):.0f} ms"
        )


class Load:
    """`concurrency` HTTP clients asking GET /fitness/wod over and over (each waits `pause`
    seconds between requests), on a thread of their own, until stopped. Any answer other
    than 200, and any request without an answer (refused, timed out), is a failure."""

    def __init__(
        self, url: str, *, concurrency: int = 8, pause: float = 0.02, timeout: float = 5.0
    ) -> None:
        self.url = url + "/fitness/wod"
        self.concurrency = concurrency
        self.pause = pause
        self.timeout = timeout
        self.result = LoadResult()
        self._tokens = tokens(200)
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def elapsed(self) -> float:
        """Seconds since the load started (the time base of the errors' `at`)."""
        return time.perf_counter() - self._started

    def stop(self) -> LoadResult:
        self._stop.set()
        self._thread.join(30)
        return self.result

    async def _run(self) -> None:
        limits = httpx2.Limits(max_connections=self.concurrency)
        started = time.monotonic()
        async with httpx2.AsyncClient(limits=limits, timeout=self.timeout) as client:
            await asyncio.gather(*(self._client(client, i) for i in range(self.concurrency)))
        self.result.seconds = time.monotonic() - started

    async def _client(self, client: httpx2.AsyncClient, n: int) -> None:
        rng = random.Random(n)
        result = self.result
        started = self._started
        while not self._stop.is_set():
            headers = {"Authorization": "Bearer " + rng.choice(self._tokens)}
            t0 = time.perf_counter()
            try:
                response = await client.get(self.url, headers=headers)
                status: int | str = response.status_code
                if status != 200 and len(result.errors) < 20:
                    result.errors.append(f"at {t0 - started:.1f} s: {status} {response.text[:200]}")
            except Exception as exc:
                status = type(exc).__name__
                if len(result.errors) < 20:
                    result.errors.append(f"at {t0 - started:.1f} s (sent): {exc!r}")
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            result.statuses[status] += 1
            await asyncio.sleep(self.pause)


# -- a small real file system ------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def need_root() -> None:
    """Mounting needs root. CI runs as root: there, not being root is a failure."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the file system fault tests need root (they mount a loop device)")
        pytest.skip("the file system fault tests need root (they mount a loop device)")


class LoopFs:
    """A fresh ext4 file system in an image file, loop-mounted at `path` with
    errors=remount-ro (what a production volume does on an I/O error)."""

    def __init__(self, image: Path, path: Path, *, size_mb: int) -> None:
        self.image = image
        self.path = path
        self.size_mb = size_mb
        self.mounted = False

    def create(self) -> None:
        with open(self.image, "wb") as fh:
            fh.truncate(self.size_mb * 1024 * 1024)
        done = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(self.image))
        assert done.returncode == 0, done.stderr

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        done = _run("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.path))
        assert done.returncode == 0, f"mount failed: {done.stderr}"
        self.mounted = True

    def unmount(self) -> None:
        if not self.mounted:
            return
        for _ in range(50):
            if _run("umount", str(self.path)).returncode == 0:
                self.mounted = False
                return
            time.sleep(0.2)
        # Something still holds a file open: detach it now, it goes when they close.
        done = _run("umount", "-l", str(self.path))
        assert done.returncode == 0, f"umount -l failed: {done.stderr}"
        self.mounted = False

    def device(self) -> str:
        return _run("findmnt", "-no", "SOURCE", str(self.path)).stdout.strip()

    def fsck(self) -> str:
        done = _run("e2fsck", "-f", "-y", str(self.image))
        assert done.returncode in (0, 1), f"e2fsck exited {done.returncode}:\n{done.stdout}"
        return done.stdout

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, name: str = "filler") -> Path:
        """Write a file until the file system has no block left."""
        filler = self.path / name
        chunk = b"\0" * (1024 * 1024)
        with open(filler, "wb") as fh:
            for size in (1024 * 1024, 4096):
                while True:
                    try:
                        fh.write(chunk[:size])
                        fh.flush()
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC, exc
                        break
            with contextlib.suppress(OSError):
                os.fsync(fh.fileno())
        return filler

    def make_read_only(self) -> None:
        """An ext4 error, as a failing disk raises: the kernel remounts it read-only at once,
        open files or not; only unmounting and mounting again makes it writable."""
        dev = os.path.basename(self.device())
        Path(f"/sys/fs/ext4/{dev}/trigger_fs_error").write_text("coach fault test\n")

    def is_read_only(self) -> bool:
        return "ro" in _run("findmnt", "-no", "OPTIONS", str(self.path)).stdout.split(",") or (
            "emergency_ro" in _run("findmnt", "-no", "OPTIONS", str(self.path)).stdout
        )


@contextlib.contextmanager
def loop_fs(tmp_path: Path, *, size_mb: int) -> Iterator[LoopFs]:
    """A mounted LoopFs, unmounted (and its image removed) however the test ends."""
    need_root()
    for tool in ("mkfs.ext4", "mount", "umount", "e2fsck", "findmnt"):
        assert shutil.which(tool), f"{tool} is missing"
    fs = LoopFs(tmp_path / "projection.img", tmp_path / "projection", size_mb=size_mb)
    fs.create()
    fs.mount()
    try:
        yield fs
    finally:
        fs.unmount()
        fs.image.unlink(missing_ok=True)
