"""The seed profile (LOADTEST_PROFILE=seed in deploy/loadtest/locustfile.py): the decision
record's users, as the migration rehearsal loads the system with them.

- `SeedUser`: logs in at the monolith (its issuer's `POST /oauth/token`, LOADTEST_MONOLITH_URL;
  again shortly before the token expires, or after a 401), then again and again: gets the
  WOD through the host Locust was given (nginx), and with a probability of LOADTEST_LOG_SHARE
  (0.3) logs a workout of 1 to 3 of its exercises through the monolith (`POST /workouts`).
  Its ids cycle over LOADTEST_SEED_USERS (1000) users from LOADTEST_FIRST_USER (1), each in
  a time zone of its own (seed_plan.zone_of). Waits LOADTEST_WAIT_MIN to LOADTEST_WAIT_MAX
  seconds (0.5 and 1.5) between rounds.
- `HostileUser` (LOADTEST_HOSTILE_PERCENT, 5 % of the users): sends the security corpus
  (deploy/loadtest/hostile_corpus.py, its tokens signed with LOADTEST_HOSTILE_SECRET, by
  default a secret nobody configured) to the host, one raw request at a time; a request
  fails when it gets a 5xx, no answer, or a WOD (seed_plan.hostile_failure). Reported under
  the request type HOSTILE.

The decisions are in deploy/loadtest/seed_plan.py (pure, unit-tested).
"""

from __future__ import annotations

import itertools
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from locust import FastHttpUser, User, between, task

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from deploy.loadtest import seed_plan  # noqa: E402
from deploy.loadtest.hostile_corpus import NOBODY, probes  # noqa: E402
from deploy.loadtest.raw_http import Probe, send  # noqa: E402

MONOLITH = os.environ.get("LOADTEST_MONOLITH_URL", "http://127.0.0.1:8090").rstrip("/")
USERS = int(os.environ.get("LOADTEST_SEED_USERS", "1000"))
FIRST_USER = int(os.environ.get("LOADTEST_FIRST_USER", "1"))
LOG_SHARE = float(os.environ.get("LOADTEST_LOG_SHARE", "0.3"))
SEED_WEIGHT, HOSTILE_WEIGHT = seed_plan.weights(
    float(os.environ.get("LOADTEST_HOSTILE_PERCENT", "5"))
)
WAIT = between(
    float(os.environ.get("LOADTEST_WAIT_MIN", "0.5")),
    float(os.environ.get("LOADTEST_WAIT_MAX", "1.5")),
)
_next_user = itertools.count()
_next_probe = itertools.count()


class SeedUser(FastHttpUser):
    weight = SEED_WEIGHT
    abstract = SEED_WEIGHT == 0
    wait_time = WAIT

    def on_start(self) -> None:
        self.user = seed_plan.user_id(next(_next_user), users=USERS, first=FIRST_USER)
        self.rng = random.Random(self.user)
        self.token: str | None = None
        self.expires_at: float | None = None

    def login(self) -> bool:
        with self.client.post(
            f"{MONOLITH}/oauth/token",
            json=seed_plan.login_body(self.user),
            name="login",
            catch_response=True,
        ) as response:
            try:
                self.token, self.expires_at = seed_plan.token_of(response.json(), time.time())
            except Exception as exc:  # not JSON, no token: the login failed
                response.failure(f"login: status {response.status_code}: {exc}")
                self.token = self.expires_at = None
                return False
        return True

    @task
    def round(self) -> None:
        """Log in if needed, get the WOD, maybe log a workout of it."""
        if seed_plan.needs_login(self.expires_at, time.time()) and not self.login():
            return
        wod = self._wod()
        if wod is not None and self.rng.random() < LOG_SHARE:
            self._log(wod)

    def _wod(self) -> Any:
        with self.client.get(
            "/fitness/wod",
            headers={"Authorization": f"Bearer {self.token}"},
            name="/fitness/wod",
            catch_response=True,
        ) as response:
            try:
                body = response.json()
            except Exception:
                body = None
            failure = seed_plan.wod_failure(response.status_code, body)
            if failure is not None:
                response.failure(failure)
                if response.status_code == 401:
                    self.expires_at = None  # log in again next round
                return None
        return body

    def _log(self, wod: Any) -> None:
        workout = seed_plan.workout_from(wod, self.user, self.rng)
        if workout is None:
            return
        with self.client.post(
            f"{MONOLITH}/workouts", json=workout, name="/workouts", catch_response=True
        ) as response:
            if response.status_code != 201:
                response.failure(f"status {response.status_code}")


class HostileUser(User):
    weight = HOSTILE_WEIGHT
    abstract = HOSTILE_WEIGHT == 0
    wait_time = WAIT
    corpus: ClassVar[list[Probe]] = []

    def on_start(self) -> None:
        if not HostileUser.corpus:
            secret = os.environ.get("LOADTEST_HOSTILE_SECRET", NOBODY.decode()).encode()
            HostileUser.corpus = probes(secret)
        where = urlsplit(self.host or "http://127.0.0.1:80")
        self.port = where.port or 80

    @task
    def probe(self) -> None:
        probe = self.corpus[next(_next_probe) % len(self.corpus)]
        started = time.perf_counter()
        try:
            reply = send(self.port, probe)
            status, body = reply.status, reply.body
        except OSError:
            status, body = 0, b""
        failure = seed_plan.hostile_failure(status, body)
        self.environment.events.request.fire(
            request_type="HOSTILE",
            name="hostile corpus",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(body),
            exception=None if failure is None else AssertionError(f"{probe.name}: {failure}"),
            context={},
        )
