"""Locust users for the load test of GET /fitness/wod through nginx (`make loadtest`, which
runs deploy/loadtest/run.py: it starts the stack and then this file).

Each request carries the next token of LOADTEST_TOKENS (one JWT per line, each of another
user), so the requests spread over many users and so over both sides of the split. A user
waits between LOADTEST_WAIT_MIN and LOADTEST_WAIT_MAX seconds (0.5 and 1.5) between requests,
like a person looking at the answer. A request fails when it is not a 200 with a WOD.

LOADTEST_PROFILE selects the users: `wod` (the default: `WodUser` above) or `seed`, the
decision record's users for the migration rehearsal (deploy/loadtest/seed.py: log in at
the monolith, get the WOD, log a workout through the monolith; and a share of hostile
clients sending the security corpus), which needs no LOADTEST_TOKENS.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from locust import FastHttpUser, between, task

PROFILE = os.environ.get("LOADTEST_PROFILE", "wod")
if PROFILE not in ("wod", "seed"):
    raise SystemExit(f"LOADTEST_PROFILE must be wod or seed, not {PROFILE!r}")
if PROFILE == "seed":  # Locust runs the user classes it finds in this module
    from seed import HostileUser, SeedUser  # noqa: F401

TOKENS = Path(os.environ["LOADTEST_TOKENS"]).read_text().split() if PROFILE == "wod" else []
_next_token = itertools.count()


class WodUser(FastHttpUser):
    abstract = PROFILE != "wod"
    wait_time = between(
        float(os.environ.get("LOADTEST_WAIT_MIN", "0.5")),
        float(os.environ.get("LOADTEST_WAIT_MAX", "1.5")),
    )

    @task
    def wod(self) -> None:
        token = TOKENS[next(_next_token) % len(TOKENS)]
        with self.client.get(
            "/fitness/wod",
            headers={"Authorization": f"Bearer {token}"},
            name="/fitness/wod",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
            elif b'"exercises"' not in (response.content or b""):
                response.failure("a 200 without a WOD")
