"""A stand-in for the monolith's legacy GET /fitness/wod, for the compose stack and the load
test. It is not the monolith and knows nothing of its data.

- `GET /fitness/wod` (and HEAD) with `Authorization: Bearer <token>`: after a delay drawn
  uniformly between LEGACY_DELAY_MIN and LEGACY_DELAY_MAX seconds (0.3 and 1.5 by default:
  the monolith computed the WOD on every request and took up to 5 s), a WOD of the same JSON
  shape as coach's, drawn from a small fixed catalog. The token is NOT verified (only its
  `sub` is read, to vary the answer): the real monolith checks it, this stand-in does not.
  Without a bearer token: 401 with `WWW-Authenticate: Bearer`, as coach answers.
- `LEGACY_EVENTS_FILE`: JSON lines of CloudEvents (what `coach demo-data` writes): the WOD is
  drawn from that file's catalog instead (upserts and deletes by revision), without the
  exercises the user completed yesterday there (deleted workouts and erased users aside;
  "yesterday" in the token's `zoneinfo` claim, else UTC), and suggests each exercise's
  defaults. So `coach rollout compare` can hold it against coach fed the same events.
  `LEGACY_WOD_SIZE` (default 6) is the number of exercises.
- `GET /health`: 200 `{"status": "ok"}`.
- Anything else: 404.

Every answer carries `X-Legacy-Stand-In: 1`, so that a person can tell who answered.
Standard library only, so that it runs in the plain python image:

    LEGACY_HOST=127.0.0.1 LEGACY_PORT=8080 python deploy/legacy/app.py
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GROUPS = {
    1: ("Quadriceps", "legs"),
    2: ("Hamstrings", "legs"),
    3: ("Glutes", "hips"),
    4: ("Calves", "legs"),
    5: ("Chest", "chest"),
    6: ("Latissimus Dorsi", "back"),
    7: ("Lower Back", "back"),
    8: ("Shoulders", "shoulders"),
    9: ("Biceps", "arms"),
    10: ("Triceps", "arms"),
    11: ("Abdominals", "core"),
    12: ("Obliques", "core"),
}
# id, name, difficulty, [(muscle group, primary, intensity)]
EXERCISES = [
    (1, "Back Squat", 3, [(1, True, 0.9), (3, False, 0.6)]),
    (2, "Deadlift", 4, [(2, True, 0.8), (7, False, 0.7)]),
    (3, "Bench Press", 3, [(5, True, 0.9), (10, False, 0.5)]),
    (4, "Pull-Up", 3, [(6, True, 0.9), (9, False, 0.5)]),
    (5, "Overhead Press", 3, [(8, True, 0.9)]),
    (6, "Plank", 1, [(11, True, 0.7)]),
    (7, "Walking Lunge", 2, [(1, True, 0.7), (3, True, 0.7)]),
    (8, "Barbell Row", 3, [(6, True, 0.8), (2, False, 0.4)]),
    (9, "Calf Raise", 1, [(4, True, 0.8)]),
    (10, "Russian Twist", 2, [(12, True, 0.7)]),
]
WOD_SIZE = 6


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        sys.exit(f"{name} must be a number of seconds")


def _claims(token: str) -> dict[str, Any]:
    """The token's claims, read without verifying anything (a stand-in); else none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims if isinstance(claims, dict) else {}
    except Exception:
        return {}


def _subject(token: str) -> str:
    """The token's `sub`; else the token."""
    sub = _claims(token).get("sub")
    return token if sub is None else str(sub)


class FromEvents:
    """The catalog and the workouts of a file of JSON lines of CloudEvents."""

    def __init__(self, path: str) -> None:
        self.catalog: dict[int, dict[str, Any]] = {}
        revisions: dict[int, int] = {}
        # user -> workout id -> (completed at, exercise ids)
        self.workouts: dict[str, dict[str, tuple[datetime, set[int]]]] = {}
        deleted: set[tuple[str, str]] = set()
        with open(path, "rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, data = event["type"], event["data"]
                if kind in ("fitness.exercise.upserted", "fitness.exercise.deleted"):
                    if data["revision"] <= revisions.get(data["id"], -1):
                        continue
                    revisions[data["id"]] = data["revision"]
                    if kind.endswith("upserted"):
                        self.catalog[data["id"]] = data
                    else:
                        self.catalog.pop(data["id"], None)
                elif kind == "fitness.workout.completed":
                    user, workout = str(data["user_id"]), data["workout_id"]
                    if (user, workout) not in deleted:
                        done = {e["exercise_id"] for e in data["exercises"]}
                        at = datetime.fromisoformat(data["completed_at"].replace("Z", "+00:00"))
                        self.workouts.setdefault(user, {})[workout] = (at, done)
                elif kind == "fitness.workout.deleted":
                    user = str(data["user_id"])
                    deleted.add((user, data["workout_id"]))
                    self.workouts.get(user, {}).pop(data["workout_id"], None)
                elif kind == "fitness.user.erased":
                    self.workouts.pop(str(data["user_id"]), None)

    def done_yesterday(self, user: str, zone: str) -> set[int]:
        tz = _zone(zone)
        today = datetime.now(tz).date()
        start = datetime.combine(today - timedelta(days=1), datetime.min.time(), tz)
        end = datetime.combine(today, datetime.min.time(), tz)
        return {
            exercise_id
            for at, done in self.workouts.get(user, {}).values()
            if start <= at < end
            for exercise_id in done
        }


def _zone(name: str) -> Any:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # an unknown zone, or no zone data in the image: UTC
        return UTC


def wod_from_events(source: FromEvents, subject: str, zone: str) -> dict[str, Any]:
    """A WOD drawn from the file's catalog minus what the user did yesterday."""
    today = datetime.now(_zone(zone)).date()
    rng = random.Random(f"{subject}/{today}")
    done = source.done_yesterday(subject, zone)
    remaining = sorted(i for i in source.catalog if i not in done)
    exercises = []
    for ex_id in rng.sample(remaining, min(Handler.wod_size, len(remaining))):
        data = source.catalog[ex_id]
        exercises.append(
            {
                "id": ex_id,
                "name": data["name"],
                "description": data.get("description", ""),
                "difficulty": data["difficulty"],
                "muscle_groups": data["muscle_groups"],
                "suggested_weight": float(data["default_weight"]),
                "suggested_reps": int(data["default_reps"]),
            }
        )
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {"exercises": exercises, "generated_at": now}


def wod_for(subject: str) -> dict[str, Any]:
    rng = random.Random(f"{subject}/{datetime.now(UTC).date()}")
    exercises = []
    for ex_id, name, difficulty, groups in rng.sample(EXERCISES, Handler.wod_size):
        exercises.append(
            {
                "id": ex_id,
                "name": name,
                "description": f"{name}, as the monolith describes it.",
                "difficulty": difficulty,
                "muscle_groups": [
                    {
                        "id": group,
                        "name": GROUPS[group][0],
                        "body_part": GROUPS[group][1],
                        "is_primary": primary,
                        "intensity": intensity,
                    }
                    for group, primary, intensity in groups
                ],
                "suggested_weight": float(rng.randrange(0, 120, 5)),
                "suggested_reps": rng.randint(5, 12),
            }
        )
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {"exercises": exercises, "generated_at": now}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body wait 40 ms for a delayed ACK
    server_version = "legacy-stand-in"
    delay_min = 0.3
    delay_max = 1.5
    wod_size = WOD_SIZE
    events: FromEvents | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Legacy-Stand-In", "1")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._send(200, {"status": "ok"})
        elif path == "/fitness/wod":
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                self._send(401, {"detail": "missing bearer token"}, {"WWW-Authenticate": "Bearer"})
                return
            time.sleep(random.uniform(self.delay_min, self.delay_max))
            token = token.strip()
            if self.events is None:
                self._send(200, wod_for(_subject(token)))
            else:
                zone = str(_claims(token).get("zoneinfo") or "UTC")
                self._send(200, wod_from_events(self.events, _subject(token), zone))
        else:
            self._send(404, {"detail": "Not Found"})

    do_HEAD = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 would drop connections under the load test


def main() -> None:
    host = os.environ.get("LEGACY_HOST", "127.0.0.1")
    port = int(os.environ.get("LEGACY_PORT", "8080"))
    Handler.delay_min = _float_env("LEGACY_DELAY_MIN", 0.3)
    Handler.delay_max = _float_env("LEGACY_DELAY_MAX", 1.5)
    if not 0 <= Handler.delay_min <= Handler.delay_max:
        sys.exit("need 0 <= LEGACY_DELAY_MIN <= LEGACY_DELAY_MAX")
    Handler.wod_size = int(_float_env("LEGACY_WOD_SIZE", WOD_SIZE))
    events_file = os.environ.get("LEGACY_EVENTS_FILE")
    if events_file:
        Handler.events = FromEvents(events_file)
    server = Server((host, port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(
        f"legacy stand-in on http://{host}:{port} "
        f"(delay {Handler.delay_min}-{Handler.delay_max} s, "
        f"catalog: {events_file or 'built in'})",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
