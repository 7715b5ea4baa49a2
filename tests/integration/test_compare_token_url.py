"""`coach rollout compare --token-url` against the stand-in issuer (deploy/monolith/issuer.py
over real HTTP): each user's token comes from `POST /oauth/token`, signed with the issuer's
key, for that user and zone, and both sides are asked with it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import jwt
from click.testing import CliRunner
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from rollout.compare_command import compare
from tests.issuer_server import IssuerServer


def test_compare_asks_both_sides_with_the_issuers_token_for_each_user(tmp_path: Path):
    """Three users per group: the monolith gets six tokens, coach three, each verifying with
    the issuer's key and naming the user and the zone asked."""
    issuer = IssuerServer(algorithm="ES256")
    seen: list[tuple[str, str]] = []

    def side(name: str):  # type: ignore[no-untyped-def]
        def app(environ, start_response):  # type: ignore[no-untyped-def]
            auth = Request(environ).headers.get("Authorization", "")
            seen.append((name, auth.removeprefix("Bearer ")))
            body = {"exercises": [], "generated_at": "2026-12-07T00:00:00Z"}
            return Response(json.dumps(body), content_type="application/json")(
                environ, start_response
            )

        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    coach, monolith = side("coach"), side("monolith")
    events = tmp_path / "events.jsonl"
    events.write_text("")
    try:
        done = CliRunner().invoke(
            compare,
            ["--coach", f"http://127.0.0.1:{coach.server_port}",
             "--monolith", f"http://127.0.0.1:{monolith.server_port}",
             "--events", str(events), "--users", "3", "--tz", "Europe/Paris",
             "--token-url", f"{issuer.url}/oauth/token", "--json"],
            env={"COACH_JWT_SECRET": None},
        )  # fmt: skip
    finally:
        coach.shutdown()
        monolith.shutdown()
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    assert sorted(n for n, _ in seen) == ["coach"] * 3 + ["monolith"] * 6
    users = set()
    for _, token in seen:
        kid = jwt.get_unverified_header(token)["kid"]
        claims = jwt.decode(token, issuer.issuer.public_key(kid), algorithms=["ES256"],
                            options={"verify_aud": False})  # fmt: skip
        assert claims["zoneinfo"] == "Europe/Paris"
        users.add(claims["sub"])
    assert users == {str(i) for i in range(1, 7)}


def test_an_issuer_that_refuses_is_a_clear_error(tmp_path: Path):
    """A token URL that answers 404: exit 1 with the URL and the status, no traceback."""
    issuer = IssuerServer()
    events = tmp_path / "events.jsonl"
    events.write_text("")
    done = CliRunner().invoke(
        compare,
        ["--coach", "http://127.0.0.1:9", "--monolith", "http://127.0.0.1:9", "--events",
         str(events), "--users", "1", "--token-url", f"{issuer.url}/nowhere"],
    )  # fmt: skip
    assert done.exit_code == 1
    assert "answered 404" in done.output
