"""Write docs/BENCHMARKS.md and its plots (docs/bench/*.png) from bench/results/*.json.

    .venv/bin/python bench/report.py

Every section shows the command that produced its figures and the machine and date it ran
on; a benchmark without results is listed with the command that makes them.
"""

from __future__ import annotations

import sys

from report_adr import adr_section
from report_capacity import capacity_section
from report_common import DOC, PLOTS, REPO, load, table
from report_freshness import cdc_section, freshness_section
from report_image import image_section
from report_ingest import ingest_section, replay_section, sharding_section, snapshot_section
from report_jwt import JWT_SECTION
from report_scaling import batch_section, catalog_section, disk_section, users_section
from report_starvation import STARVATION_SECTION
from report_wod import tail_section, wod_section


def render() -> str:
    adr, adr_head = adr_section(load("adr"))
    users_record = load("scaling_users")
    users, users_head = users_section(users_record)
    catalog_record = load("scaling_catalog")
    catalog = catalog_section(catalog_record)
    disk, disk_head = disk_section([r for r in (users_record, catalog_record) if r])
    batch = batch_section(load("ingest_batch"))
    ingest, ingest_head = ingest_section(load("ingest"))
    replay, replay_head = replay_section(load("replay"))
    wod, wod_head = wod_section(load("wod"))
    tail, tail_head = tail_section(load("tail"), load("inprocess"))
    freshness, freshness_head = freshness_section(load("freshness"))
    snapshot, snapshot_head = snapshot_section(load("snapshot"))
    sharding = sharding_section(load("sharding"))
    headline = (
        adr_head
        + users_head
        + disk_head
        + ingest_head
        + replay_head
        + wod_head
        + tail_head
        + freshness_head
        + snapshot_head
    )
    image = image_section(load("image"))
    cdc, cdc_head = cdc_section(load("cdc_freshness"))
    headline += cdc_head
    return f"""# Benchmarks

Written by `bench/report.py` from `bench/results/*.json`; `make bench` runs every benchmark
at sizes that take a few minutes and rewrites this file, `make bench-full` (or
`.venv/bin/python bench/run.py --full`) at the large ones (1M users, 500,000 events).
Each section names the command that produced its figures and the machine it ran on. The
machine is shared: every server and wrk share its cores, and other work may run at the
same time (the load average at the start is shown), so compare figures measured side by
side in one run, as every ratio here is.

## Headline

{table(["Figure", "Measured", "Goal", "", "Command"], headline)}

{adr}
{users}
{catalog}
{disk}
{batch}
{ingest}
{replay}
{wod}
{tail}
{capacity_section(load("capacity"))}
{STARVATION_SECTION}
{JWT_SECTION}{freshness}
{snapshot}
{sharding}
{cdc}
{image}
## Reproducing

```sh
make bench                                   # every benchmark, small sizes, then this report
make bench-full                              # the same at the large sizes
.venv/bin/python bench/report.py             # this report again from bench/results/
.venv/bin/python bench/loop_starvation.py    # uvloop's starved connections (--via nginx, --probe)
```

The broker comes from `COACH_KAFKA_BOOTSTRAP_SERVERS`, else the local one (`make broker`).
The image's figures need Docker or podman (`.venv/bin/python bench/image.py --cold` for a
build from nothing: it removes the image and its base first).
wrk must be installed (`make bench` installs Debian's package when it is missing).
"""


def main() -> int:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(REPO)} and {PLOTS.relative_to(REPO)}/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
