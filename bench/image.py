"""The image: its size, its build time cold and warm, and its start time (container start to
/health 200). Writes bench/results/image.json.

    .venv/bin/python bench/image.py            # warm build, size, start time
    .venv/bin/python bench/image.py --cold     # first removes the image, its base (or the
                                               # stand-in and its debootstrap root) and the
                                               # engine's dangling build layers

Builds with tools/image/build.py (`make image`): Docker if an engine answers, else podman.
The start time is from `run -d` of the api (the image's default command, on an empty
projection volume) to the first 200 of /health on its published port, polled every 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, machine_info, save_result

SECRET = "bench-secret-" + "x" * 40
RESULT = REPO / "bench/results/image.json"


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_build", REPO / "tools/image/build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _build_module()


def engine_run(engine: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [engine, *args], env=BUILD.engine_env(engine), capture_output=True, text=True,
        check=check,
    )  # fmt: skip


def build() -> dict[str, Any]:
    """tools/image/build.py --json, timed: its summary plus the total seconds."""
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, str(REPO / "tools/image/build.py"), "--json"],
        stdout=subprocess.PIPE, text=True, check=True,
    )  # fmt: skip
    summary: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    summary["total_seconds"] = round(time.monotonic() - started, 2)
    return summary


def forget_everything(engine: str) -> None:
    """Remove the image, its base (the stand-in and its debootstrap root too) and the
    dangling layers of earlier builds, so that the next build starts from nothing (the
    engine's other images stay)."""
    base = BUILD.dockerfile_base()
    rootfs = f"localhost/coach-standin/debian:{BUILD.SUITE}-{BUILD.rootfs_key()}"
    for name in (BUILD.TAG, base, BUILD.standin_name(base), rootfs):
        engine_run(engine, "rmi", "-f", name, check=False)
    engine_run(engine, "image", "prune", "-f", check=False)


def start_to_health(engine: str, tag: str, rounds: int) -> list[float]:
    """Seconds from `run -d` to the first /health 200, one fresh container each round."""
    times = []
    for _ in range(rounds):
        name = f"coach-bench-{uuid.uuid4().hex[:8]}"
        volume = f"{name}-data"
        engine_run(engine, "volume", "create", volume)
        try:
            started = time.monotonic()
            engine_run(
                engine, "run", "-d", "--name", name, "-p", "127.0.0.1::8000", "-v",
                f"{volume}:/data", "-e", f"COACH_JWT_SECRET={SECRET}", tag,
            )  # fmt: skip
            port = int(engine_run(engine, "port", name, "8000").stdout.split(":")[-1])
            while time.monotonic() - started < 60:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    conn.request("GET", "/health")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                finally:
                    conn.close()
                time.sleep(0.02)
            else:
                raise RuntimeError(
                    f"no /health 200 within 60 s:\n{engine_run(engine, 'logs', name)}"
                )
            times.append(time.monotonic() - started)
        finally:
            engine_run(engine, "rm", "-f", "-v", "-t", "0", name, check=False)
            engine_run(engine, "volume", "rm", "-f", volume, check=False)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", action="store_true", help="measure a build from nothing first")
    parser.add_argument("--rounds", type=int, default=5, help="containers started (default 5)")
    args = parser.parse_args()
    info = machine_info()
    engine = BUILD.find_engine()
    data: dict[str, Any] = {"engine": engine}
    version = engine_run(engine, "--version").stdout.strip()
    data["engine_version"] = version
    if args.cold:
        forget_everything(engine)
        data["cold"] = build()
        data["cold"]["measured_at"] = info["date"]
        print(f"cold build: {data['cold']['total_seconds']:.1f} s ({data['cold']['base_how']})")
    elif RESULT.exists():  # the last cold build measured, with its date
        previous = json.loads(RESULT.read_text())["data"]
        if "cold" in previous:
            data["cold"] = previous["cold"]
    build()  # the cache is now complete
    data["warm"] = build()
    print(f"warm build: {data['warm']['total_seconds']:.1f} s")
    tag = data["warm"]["tag"]
    data["size_bytes"] = data["warm"]["size_bytes"]
    data["base_size_bytes"] = int(
        engine_run(
            engine, "image", "inspect", "--format", "{{.Size}}", data["warm"]["base_image"]
        ).stdout.strip()
    )
    times = start_to_health(engine, tag, args.rounds)
    data["start_to_health_seconds"] = [round(t, 3) for t in times]
    data["start_to_health_median"] = round(statistics.median(times), 3)
    print(f"size {data['size_bytes'] / 1e6:.0f} MB; start to /health 200: median "
          f"{data['start_to_health_median']:.2f} s of {times}")  # fmt: skip
    save_result("image", data, info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
