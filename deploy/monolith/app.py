"""The stand-in monolith: a Flask app on PostgreSQL whose writes publish coach's events
through the transactional outbox (monolith_kit), as the real monolith's should.

- `PUT /exercises/<id>` (JSON: name, description, difficulty, default_weight, default_reps,
  muscle_groups): create or edit an exercise; `DELETE /exercises/<id>`.
- `POST /workouts` (JSON: user_id, exercises [{exercise_id, sets, reps, weight}], optional
  completed_at and workout_id): log a completed workout; `DELETE /workouts/<id>`.
- `POST /users/<user_id>/erase`: erase a user's workouts (GDPR).
- `GET /fitness/wod` (`?tz=` optional): the legacy WOD for the strangler routing, computed
  from these tables on every request (deploy/monolith/wod.py), the bearer token verified as
  the real monolith would (deploy/monolith/tokens.py: 401 JSON when refused), after a delay
  drawn between LEGACY_DELAY_MIN and LEGACY_DELAY_MAX seconds (0.3 and 1.5 by default, as
  the legacy WOD took; 0 and 0 for none). MONOLITH_WOD_SIZE (6) exercises;
  MONOLITH_JWT_SECRET: HS256 tokens signed with coach's COACH_JWT_SECRET are accepted too.
- `GET /health`.
- A request that meets a database restart is run again, each time in a fresh transaction,
  for up to MONOLITH_DB_RETRY_SECONDS (9, the WOD's delay included: longer than a fast
  restart on a busy machine, 6.8 to 8.5 s in the short rehearsal, and shorter than nginx's
  10 s read timeout towards the monolith, so that a client gets this 503 rather than nginx's
  504); past that it answers 503 JSON with Retry-After (deploy/monolith/retry.py).
- The token issuer (deploy/monolith/issuer.py): its JWKS, OpenID discovery, tokens, rotation.

Each write and its outbox event commit in one transaction, or neither does.

    MONOLITH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5433/monolith \\
        python -m deploy.monolith.app        # MONOLITH_HOST / MONOLITH_PORT (8090)
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler

from deploy.monolith import issuer, models
from deploy.monolith.retry import RETRY_AFTER_SECONDS, Unavailable, retried
from deploy.monolith.tokens import TokenRefused, Verifier
from deploy.monolith.wod import UnknownZone, wod_of, zone_of
from monolith_kit import StaleRevision

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5433/monolith"
UNAUTHORIZED = {"WWW-Authenticate": "Bearer", "X-Legacy-Stand-In": "1"}


class JsonErrorsHandler(WSGIRequestHandler):
    """werkzeug's request handler, whose own refusals (a request it cannot parse: 400, too
    many headers: 431) are JSON like the app's, not HTML."""

    error_message_format = '{"detail": "%(code)d: the request cannot be read"}'
    error_content_type = "application/json"


def _delay(environ: dict[str, str]) -> tuple[float, float]:
    """LEGACY_DELAY_MIN and LEGACY_DELAY_MAX (0.3 and 1.5 s): the legacy WOD's delay."""
    low = float(environ.get("LEGACY_DELAY_MIN", "0.3"))
    high = float(environ.get("LEGACY_DELAY_MAX", "1.5"))
    if not 0 <= low <= high:
        raise ValueError("need 0 <= LEGACY_DELAY_MIN <= LEGACY_DELAY_MAX")
    return low, high


def create_app(
    database_url: str | None = None, *, now: Callable[[], datetime] | None = None
) -> Flask:
    """The monolith on `database_url` (else MONOLITH_DATABASE_URL); `now` is its clock (a
    test's, else the system's)."""
    environ = dict(os.environ)
    url = database_url or environ.get("MONOLITH_DATABASE_URL", DEFAULT_DATABASE_URL)
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    with engine.begin() as conn:
        models.create_schema(conn)
    sessions = sessionmaker(engine, expire_on_commit=False)
    delay = _delay(environ)
    size = int(environ.get("MONOLITH_WOD_SIZE", "6"))
    clock = now or (lambda: datetime.now(UTC))
    tokens = issuer.from_env(environ)
    verifier = Verifier(tokens, secret=environ.get("MONOLITH_JWT_SECRET"))
    app = Flask("monolith")
    app.config["engine"] = engine
    app.config["issuer"] = tokens
    app.config["verifier"] = verifier
    app.register_blueprint(issuer.blueprint(tokens))
    bound = float(environ.get("MONOLITH_DB_RETRY_SECONDS", "9"))
    retry = retried(bound)

    def transaction() -> Session:
        return sessions.begin()  # type: ignore[return-value]

    @app.put("/exercises/<int:exercise_id>")
    @retry
    def put_exercise(exercise_id: int) -> Any:
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return jsonify({"detail": "the body must be a JSON object (the exercise)"}), 422
        with transaction() as session:
            exercise = models.save_exercise(session, {**body, "id": exercise_id})
        return jsonify({"id": exercise.id, "revision": exercise.revision})

    @app.delete("/exercises/<int:exercise_id>")
    @retry
    def remove_exercise(exercise_id: int) -> Any:
        with transaction() as session:
            found = models.delete_exercise(session, exercise_id)
        return ("", 204) if found else (jsonify({"detail": "Not Found"}), 404)

    @app.post("/workouts")
    def post_workout() -> Any:
        body = request.get_json(force=True)
        at = body.get("completed_at")
        # One id for every attempt: an attempt whose commit landed but whose answer was lost
        # (the connection dropped after COMMIT) is found by the next one, never logged twice.
        workout_id = str(body.get("workout_id") or uuid.uuid4())
        attempts = 0

        @retry
        def log() -> Any:
            nonlocal attempts
            attempts += 1
            with transaction() as session:
                if attempts > 1 and session.get(models.Workout, workout_id) is not None:
                    return jsonify({"id": workout_id}), 201
                workout = models.log_workout(
                    session,
                    user_id=str(body["user_id"]),
                    exercises=body["exercises"],
                    completed_at=datetime.fromisoformat(at) if at else None,
                    workout_id=workout_id,
                )
            return jsonify({"id": workout.id}), 201

        return log()

    @app.delete("/workouts/<workout_id>")
    @retry
    def remove_workout(workout_id: str) -> Any:
        with transaction() as session:
            found = models.delete_workout(session, workout_id)
        return ("", 204) if found else (jsonify({"detail": "Not Found"}), 404)

    @app.post("/users/<user_id>/erase")
    @retry
    def erase(user_id: str) -> Any:
        with transaction() as session:
            count = models.erase_user(session, user_id)
        return jsonify({"workouts_deleted": count})

    @app.get("/fitness/wod")
    def wod() -> Any:
        principal = verifier.verify_header(request.headers.get("Authorization"))
        zone = zone_of(request.args.get("tz"), principal.zoneinfo)
        waited = random.uniform(*delay) if delay[1] > 0 else 0.0
        time.sleep(waited)

        def read() -> Any:  # the delay once, then the reads within what is left of the bound
            with sessions() as session:
                return wod_of(
                    session,
                    user_id=principal.user_id,
                    zone=zone,
                    now=clock(),
                    size=size,
                    rng=random.Random(),
                )

        body = retried(max(0.5, bound - waited))(read)()
        return jsonify(body), 200, {"X-Legacy-Stand-In": "1"}

    @app.get("/health")
    def health() -> Any:
        return jsonify({"status": "ok"})

    @app.errorhandler(TokenRefused)
    def unauthorized(exc: TokenRefused) -> Any:
        return jsonify({"detail": str(exc)}), 401, UNAUTHORIZED

    @app.errorhandler(Unavailable)
    def unavailable(exc: Unavailable) -> Any:  # the database restarting for longer than the bound
        return jsonify({"detail": str(exc)}), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}

    @app.errorhandler(UnknownZone)
    def unknown_zone(exc: UnknownZone) -> Any:
        return jsonify({"detail": str(exc)}), 422, {"X-Legacy-Stand-In": "1"}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:  # 404, 405, a body that is not JSON...: JSON
        return jsonify({"detail": exc.name}), exc.code or 500

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
    app.run(host=host, port=port, threaded=True, request_handler=JsonErrorsHandler)


if __name__ == "__main__":
    main()
