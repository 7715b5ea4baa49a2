"""The section of docs/BENCHMARKS.md on the image: its size, build and start times
(bench/image.py)."""

from __future__ import annotations

from typing import Any

from report_common import missing, provenance


def image_section(record: dict[str, Any] | None) -> str:
    title = "The image"
    if record is None:
        return missing(title, ".venv/bin/python bench/image.py --cold")
    d = record["data"]
    warm = d["warm"]
    cold = d.get("cold")
    if cold:
        cold_text = (
            f"cold (no image, no base, no build cache; {cold.get('measured_at', '?')}):"
            f" **{cold['total_seconds']:.0f} s**: the base {cold['base_seconds']:.0f} s"
            f" ({cold['base_how']}), then the image {cold['build_seconds']:.0f} s."
        )
    else:
        cold_text = "cold: not measured yet (`.venv/bin/python bench/image.py --cold`)."
    starts = ", ".join(f"{t:.2f}" for t in d["start_to_health_seconds"])
    return f"""## {title}

{provenance(record)}

`localhost/coach:dev` built from the unchanged Dockerfile by `make image`
(tools/image/build.py) with {d["engine_version"]}, on `{warm["base"]}`
({warm["base_how"]}: see the README's "Building the image"); bench/image.py. Other work
may share the machine's cores (see the load average above), and a cold build's time is
mostly downloads from Debian's mirror and PyPI.

- Size: **{d["size_bytes"] / 1e6:.0f} MB**: the base {d["base_size_bytes"] / 1e6:.0f} MB,
  coach and its locked dependencies {(d["size_bytes"] - d["base_size_bytes"]) / 1e6:.0f} MB.
- Build, {cold_text} Warm, nothing changed: **{warm["total_seconds"]:.1f} s**.
- Start, from `run -d` of the api (an empty projection volume) to the first `/health` 200:
  median **{d["start_to_health_median"]:.2f} s** of {len(d["start_to_health_seconds"])}
  containers ({starts} s).
"""
