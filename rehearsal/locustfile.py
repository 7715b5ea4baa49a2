"""The rehearsal's load, through nginx: people who log in at the monolith's issuer, ask for
their WOD and log workouts (through the monolith), and a few hostile clients whose broken
tokens must never get a 5xx. Settings from the environment: REHEARSAL_USERS (ids 1..N
the people are drawn from), REHEARSAL_EXERCISES (catalog ids 1..N), REHEARSAL_WAIT (seconds
between a person's requests, min,max)."""

from __future__ import annotations

import os
import random
import uuid

from locust import FastHttpUser, between, task

USERS = int(os.environ.get("REHEARSAL_USERS", "1000"))
EXERCISES = int(os.environ.get("REHEARSAL_EXERCISES", "48"))
WAIT = [float(v) for v in os.environ.get("REHEARSAL_WAIT", "0.5,1.5").split(",")]
HOSTILE = (
    "",
    "Bearer",
    "Basic dXNlcjpwYXNz",
    "Bearer not.a.token",
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    "Bearer " + "A" * 6000,
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.c2lnbmF0dXJl",
)


class Person(FastHttpUser):
    weight = 19
    wait_time = between(WAIT[0], WAIT[1])

    def on_start(self) -> None:
        self.user_id = str(random.randint(1, USERS))  # nosec B311 (load, not secrets)
        with self.client.post(
            "/oauth/token", json={"sub": self.user_id, "zoneinfo": "UTC"}, name="login",
            catch_response=True,
        ) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                self.token = ""
                return
            self.token = response.json()["access_token"]

    @task(6)
    def wod(self) -> None:
        with self.client.get(
            "/fitness/wod", headers={"Authorization": f"Bearer {self.token}"},
            name="/fitness/wod", catch_response=True,
        ) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
            elif b'"exercises"' not in (response.content or b""):
                response.failure("a 200 without a WOD")

    @task(1)
    def log_workout(self) -> None:
        picks = random.sample(range(1, EXERCISES + 1), 3)  # nosec B311
        body = {
            "user_id": self.user_id,
            "workout_id": f"load-{uuid.uuid4()}",
            "exercises": [
                {"exercise_id": e, "sets": 3, "reps": random.randint(5, 12), "weight": 20.0}  # nosec B311
                for e in picks
            ],
        }
        with self.client.post("/workouts", json=body, name="log workout", catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"status {r.status_code}")


class Hostile(FastHttpUser):
    weight = 1
    wait_time = between(WAIT[0], WAIT[1])

    @task
    def broken_token(self) -> None:
        header = random.choice(HOSTILE)  # nosec B311
        headers = {"Authorization": header} if header else {}
        with self.client.get(
            "/fitness/wod", headers=headers, name="hostile", catch_response=True
        ) as response:
            # The promise is no 5xx (nor a dropped connection); which 4xx is the side's own.
            if response.status_code >= 500 or response.status_code == 0:
                response.failure(f"status {response.status_code}")
            else:
                response.success()
