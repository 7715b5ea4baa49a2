"""The seed profile's decisions, pure (deploy/loadtest/seed.py runs them in Locust): who a
simulated user is, how they log in, which workout they log from the WOD they got, and what
counts as a failure for them and for a hostile client. No I/O, no clock (times are passed).
"""

from __future__ import annotations

import random
import zlib
from typing import Any

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Pacific/Auckland",
)
RELOGIN_MARGIN_SECONDS = 30.0
"""A user logs in again this long before their token expires."""
MAX_LOGGED_EXERCISES = 3


def user_id(n: int, *, users: int, first: int = 1) -> str:
    """The `n`-th simulated user's id, cycling over `users` ids from `first`."""
    if users < 1:
        raise ValueError("users must be at least 1")
    return str(first + n % users)


def zone_of(user: str) -> str:
    """A user's time zone, the same in every run (a digest, not Python's `hash`)."""
    return ZONES[zlib.crc32(user.encode()) % len(ZONES)]


def login_body(user: str) -> dict[str, Any]:
    """What the user sends to the monolith's login (its issuer's `POST /oauth/token`)."""
    return {"sub": user, "zoneinfo": zone_of(user)}


def token_of(answer: Any, now: float) -> tuple[str, float]:
    """(access token, time it expires) of the login's JSON answer; ValueError if it is not
    one."""
    if not isinstance(answer, dict):
        raise ValueError("the login's answer is not a JSON object")
    token, expires_in = answer.get("access_token"), answer.get("expires_in")
    if not isinstance(token, str) or not token:
        raise ValueError("the login's answer has no access_token")
    if not isinstance(expires_in, int | float) or expires_in <= 0:
        raise ValueError("the login's answer has no positive expires_in")
    return token, now + float(expires_in)


def needs_login(expires_at: float | None, now: float) -> bool:
    """Whether the user must log in (again) before the next request."""
    return expires_at is None or now >= expires_at - RELOGIN_MARGIN_SECONDS


def wod_failure(status: int, body: Any) -> str | None:
    """Why a WOD answer is a failure for the user (None: a WOD)."""
    if status != 200:
        return f"status {status}"
    if not isinstance(body, dict) or not isinstance(body.get("exercises"), list):
        return "a 200 without a WOD"
    return None


def workout_from(wod: Any, user: str, rng: random.Random) -> dict[str, Any] | None:
    """The workout the user logs after their WOD (`POST /workouts`): 1 to 3 of its
    exercises at the suggested weight and reps; None when the WOD holds none."""
    exercises = wod.get("exercises") if isinstance(wod, dict) else None
    if not exercises:
        return None
    count = rng.randint(1, min(MAX_LOGGED_EXERCISES, len(exercises)))
    done = rng.sample(exercises, count)
    return {
        "user_id": user,
        "exercises": [
            {
                "exercise_id": e["id"],
                "sets": rng.randint(2, 5),
                "reps": e["suggested_reps"],
                "weight": e["suggested_weight"],
            }
            for e in done
        ],
    }


def hostile_failure(status: int, body: bytes) -> str | None:
    """Why a hostile request's answer breaks the promise (None: refused, as it must be):
    no answer, a 5xx, or a WOD served to it (its tokens are signed by nobody the servers
    trust). A 4xx is the expected answer; a redirect or an empty 2xx (OPTIONS) is harmless."""
    if status == 0:
        return "no answer"
    if status >= 500:
        return f"a {status}"
    if 200 <= status < 300 and b'"exercises"' in body:
        return "a WOD served to a hostile request"
    return None


def weights(hostile_percent: float) -> tuple[int, int]:
    """Locust weights (seed users, hostile clients) for a share of hostile clients in %."""
    if not 0 <= hostile_percent <= 100:
        raise ValueError("the hostile share is a percentage, 0 to 100")
    hostile = round(hostile_percent * 10)
    return 1000 - hostile, hostile
