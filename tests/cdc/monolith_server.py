"""The stand-in monolith (deploy/monolith/app.py) on a real PostgreSQL database of a test's
own, served over real HTTP by werkzeug on a free loopback port, with helpers to write its
tables through its own routes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from deploy.monolith.app import JsonErrorsHandler, create_app
from deploy.monolith.issuer import Issuer
from tests.cdc.conftest import cdc


def muscle(group: int) -> list[dict[str, Any]]:
    return [
        {"id": group, "name": f"Group {group}", "body_part": "legs", "is_primary": True,
         "intensity": 0.8}
    ]  # fmt: skip


def exercise_body(i: int, name: str | None = None) -> dict[str, Any]:
    return {
        "name": name or f"Exercise {i}",
        "description": "",
        "difficulty": 1 + i % 5,
        "default_weight": 10.0 + i,
        "default_reps": 8,
        "muscle_groups": muscle(1 + i % 4),
    }


def workout(user: str, at: datetime, *exercise_ids: int, weight: float = 50.0) -> dict[str, Any]:
    return {
        "user_id": user,
        "completed_at": at.isoformat(),
        "exercises": [
            {"exercise_id": i, "sets": 3, "reps": 5, "weight": weight} for i in exercise_ids
        ],
    }


@contextmanager
def database(port: int) -> Iterator[str]:
    """A new database's URL (dropped at the end)."""
    name = f"mw_{uuid.uuid4().hex[:12]}"
    cdc.create_database(name)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"
    finally:
        cdc.drop_database(name)


class Served:
    """The monolith's app served on a free port, and its test client."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=JsonErrorsHandler
        )
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> Issuer:
        return self.app.config["issuer"]  # type: ignore[no-any-return]

    def token(self, sub: str, zone: str | None = None, **claims: Any) -> str:
        extra = {"zoneinfo": zone} if zone else {}
        return self.issuer.sign(sub, **extra, **claims)

    def put_exercise(self, i: int, name: str | None = None) -> None:
        answer = self.client.put(f"/exercises/{i}", json=exercise_body(i, name))
        assert answer.status_code == 200, answer.get_json()

    def log(self, body: dict[str, Any]) -> str:
        answer = self.client.post("/workouts", json=body)
        assert answer.status_code == 201, answer.get_json()
        return str(answer.get_json()["id"])

    def wod(self, token: str, query: str = "") -> tuple[int, Any]:
        answer = self.client.get(
            f"/fitness/wod{query}", headers={"Authorization": f"Bearer {token}"}
        )
        return answer.status_code, answer.get_json()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.app.config["engine"].dispose()


@contextmanager
def served(url: str, now: Callable[[], datetime] | None = None) -> Iterator[Served]:
    """The monolith on `url` (the caller sets LEGACY_DELAY_*, MONOLITH_JWT_SECRET first)."""
    server = Served(create_app(url, now=now))
    try:
        yield server
    finally:
        server.stop()
