"""The stand-in monolith: a Flask app on PostgreSQL whose writes publish coach's events
through the transactional outbox (monolith_kit), as the real monolith's should.

- `PUT /exercises/<id>` (JSON: name, description, difficulty, default_weight, default_reps,
  muscle_groups): create or edit an exercise; `DELETE /exercises/<id>`.
- `POST /workouts` (JSON: user_id, exercises [{exercise_id, sets, reps, weight}], optional
  completed_at and workout_id): log a completed workout; `DELETE /workouts/<id>`.
- `POST /users/<user_id>/erase`: erase a user's workouts (GDPR).
- `GET /fitness/wod`: the legacy WOD for the strangler routing, as deploy/legacy/app.py
  answers it (a delay of LEGACY_DELAY_MIN to LEGACY_DELAY_MAX seconds, a fixed catalog).
- `GET /health`.
- The token issuer (deploy/monolith/issuer.py): its JWKS, OpenID discovery, tokens, rotation.

Each write and its outbox event commit in one transaction, or neither does.

    MONOLITH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5433/monolith \\
        python -m deploy.monolith.app        # MONOLITH_HOST / MONOLITH_PORT (8090)
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from deploy.monolith import issuer, models
from monolith_kit import StaleRevision

_LEGACY = Path(__file__).resolve().parent.parent / "legacy" / "app.py"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5433/monolith"


def _legacy() -> Any:
    spec = importlib.util.spec_from_file_location("legacy_stand_in", _LEGACY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def create_app(database_url: str | None = None) -> Flask:
    url = database_url or os.environ.get("MONOLITH_DATABASE_URL", DEFAULT_DATABASE_URL)
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    with engine.begin() as conn:
        models.create_schema(conn)
    sessions = sessionmaker(engine, expire_on_commit=False)
    legacy = _legacy()
    delay = (
        float(os.environ.get("LEGACY_DELAY_MIN", "0.3")),
        float(os.environ.get("LEGACY_DELAY_MAX", "1.5")),
    )
    app = Flask("monolith")
    app.config["engine"] = engine
    app.register_blueprint(issuer.blueprint(issuer.from_env(dict(os.environ))))

    def transaction() -> Session:
        return sessions.begin()  # type: ignore[return-value]

    @app.put("/exercises/<int:exercise_id>")
    def put_exercise(exercise_id: int) -> Any:
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return jsonify({"detail": "the body must be a JSON object (the exercise)"}), 422
        with transaction() as session:
            exercise = models.save_exercise(session, {**body, "id": exercise_id})
        return jsonify({"id": exercise.id, "revision": exercise.revision})

    @app.delete("/exercises/<int:exercise_id>")
    def remove_exercise(exercise_id: int) -> Any:
        with transaction() as session:
            found = models.delete_exercise(session, exercise_id)
        return ("", 204) if found else (jsonify({"detail": "Not Found"}), 404)

    @app.post("/workouts")
    def post_workout() -> Any:
        body = request.get_json(force=True)
        at = body.get("completed_at")
        with transaction() as session:
            workout = models.log_workout(
                session,
                user_id=str(body["user_id"]),
                exercises=body["exercises"],
                completed_at=datetime.fromisoformat(at) if at else None,
                workout_id=body.get("workout_id"),
            )
        return jsonify({"id": workout.id}), 201

    @app.delete("/workouts/<workout_id>")
    def remove_workout(workout_id: str) -> Any:
        with transaction() as session:
            found = models.delete_workout(session, workout_id)
        return ("", 204) if found else (jsonify({"detail": "Not Found"}), 404)

    @app.post("/users/<user_id>/erase")
    def erase(user_id: str) -> Any:
        with transaction() as session:
            count = models.erase_user(session, user_id)
        return jsonify({"workouts_deleted": count})

    @app.get("/fitness/wod")
    def wod() -> Any:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            response = jsonify({"detail": "missing bearer token"})
            return response, 401, {"WWW-Authenticate": "Bearer", "X-Legacy-Stand-In": "1"}
        time.sleep(random.uniform(*delay))
        body = legacy.wod_for(legacy._subject(token.strip()))
        return jsonify(body), 200, {"X-Legacy-Stand-In": "1"}

    @app.get("/health")
    def health() -> Any:
        return jsonify({"status": "ok"})

    @app.errorhandler(IntegrityError)
    @app.errorhandler(StaleRevision)
    def conflict(exc: Exception) -> Any:
        # Two writes of one exercise at once (two creates of a new id, a deadlock): the one
        # that lost changed nothing; the client may try again.
        return jsonify({"detail": "conflict with a concurrent write; try again"}), 409

    @app.errorhandler(KeyError)
    @app.errorhandler(ValueError)
    def bad_request(exc: Exception) -> Any:
        return jsonify({"detail": f"{type(exc).__name__}: {exc}"}), 422

    @app.errorhandler(TypeError)
    def wrong_type(exc: Exception) -> Any:  # a field of the wrong JSON type (null, a list)
        return jsonify({"detail": "a field has the wrong type"}), 422

    return app


def main() -> None:
    app = create_app()
    host = os.environ.get("MONOLITH_HOST", "127.0.0.1")
    port = int(os.environ.get("MONOLITH_PORT", "8090"))
    print(f"stand-in monolith on http://{host}:{port}", flush=True)
    app.run(host=host, port=port, threaded=True)


if __name__ == "__main__":
    main()
