"""Hostile or odd input to GET /fitness/wod: a 4xx with a JSON `detail`, never a 500."""

from __future__ import annotations

import pytest

from tests.factories import upserted
from tests.integration.conftest import bearer


@pytest.fixture
def client(api, project):  # type: ignore[no-untyped-def]
    project([upserted(i) for i in range(1, 10)])
    with api() as client:
        yield client


@pytest.mark.parametrize(
    "query,status",
    [
        ("fresh=maybe", 422),
        ("fresh=", 422),
        ("tz=", 422),  # empty is not a zone (absent is: then the token's, else the default)
        ("tz=" + "x" * 65, 422),
        ("tz=" + "%00" * 10, 422),
        ("tz=%ff%fe", 422),
        ("tz=%", 422),
        ("tz=Europe/Berlin&fresh=true", 200),
        ("utm_source=newsletter&_=1700000000", 200),  # unknown parameters are ignored
        ("tz=Europe%2FBerlin", 200),
        ("&&&==&", 200),
        ("x=" + "y" * 20_000, 200),
    ],
)
def test_query_strings(client, query, status):
    response = client.get(f"/fitness/wod?{query}", headers=bearer())
    assert response.status_code == status, response.text
    if status != 200:
        body = response.json()
        assert isinstance(body["detail"], str) and body["detail"]


def test_a_bad_parameter_is_named(client):
    body = client.get("/fitness/wod?fresh=maybe", headers=bearer()).json()
    assert "fresh" in body["detail"]


@pytest.mark.parametrize(
    "query,detail",
    [
        ("fresh=maybe", "invalid query.fresh: must be true or false"),
        ("fresh=", "invalid query.fresh: must be true or false"),
        ("tz=" + "x" * 65, "invalid query.tz: at most 64 characters"),
    ],
)
def test_a_bad_parameter_s_422_says_what_is_expected(client, query, detail):
    """The body of the 422 is the contract's sentence (docs/API.md), word for word."""
    response = client.get(f"/fitness/wod?{query}", headers=bearer())
    assert (response.status_code, response.json()["detail"]) == (422, detail)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_with_allow(client, method):
    response = client.request(method, "/fitness/wod", headers=bearer())
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize(
    "sub",
    ["7", "a" * 256, "ユーザー", "😀", "'; DROP TABLE workouts; --", "../../etc/passwd"],
)
def test_any_subject_is_just_a_user_id(client, sub):
    """The token's `sub` is only ever a bound SQL parameter and a hash input."""
    response = client.get("/fitness/wod", headers=bearer(sub))
    assert response.status_code == 200
    assert len(response.json()["exercises"]) == 6


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "\ud800"},  # a lone surrogate: SQLite's driver cannot bind it (was a 500)
        {"sub": "7\udfff"},
        {"sub": "x\x00y"},
        {"sub": "x\ny"},
        {"sub": "x\x9by"},
        {"zoneinfo": "\ud800"},
        {"zoneinfo": "UTC\x00"},
        {"zoneinfo": 5},
        {"zoneinfo": ["Europe/Berlin"]},
        {"zoneinfo": {"name": "UTC"}},
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_claims_that_are_not_plain_text_are_a_401(client, claims, method):
    """Issue 26: a signed token whose `sub` (or `zoneinfo`) is not valid text, or a
    `zoneinfo` that is no string: a 401 with a JSON body, GET and HEAD, never a 500."""
    claims = {"sub": "7", **claims}
    response = client.request(method, "/fitness/wod", headers=bearer(**claims))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    if method == "GET":
        assert response.json() == {"detail": "invalid token: bad claims"}


def test_an_overlong_subject_is_a_401(client):
    assert client.get("/fitness/wod", headers=bearer("a" * 257)).status_code == 401


def test_unknown_paths_are_a_json_404(client):
    response = client.get("/fitness/wod/extra", headers=bearer())
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_framework_validation_errors_keep_the_error_shape():
    """Should a route use FastAPI-validated parameters, its 422 has a `detail` sentence and
    `errors` without the offending input."""
    import asyncio

    from fastapi.exceptions import RequestValidationError

    from api.errors import handle_validation_error

    exc = RequestValidationError(
        [{"loc": ("query", "n"), "msg": "not a number", "type": "int_parsing", "input": "\x00"}]
    )
    response = asyncio.run(handle_validation_error(None, exc))  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.body == (
        b'{"detail":"invalid query.n","errors":[{"loc":["query","n"],'
        b'"msg":"not a number","type":"int_parsing"}]}'
    )


def test_rendering_an_error_body_never_raises():
    """A body orjson refuses (a lone surrogate, a value of no JSON type) renders as a fixed
    JSON sentence, with its status kept: an error can never become a 500 while rendered."""
    import orjson

    from api.responses import UNRENDERABLE, JSONBody

    for content in ({"detail": "\ud800"}, {"detail": object()}, {"detail": "x\udfff"}):
        response = JSONBody(content, status_code=401)
        assert response.status_code == 401 and response.body == UNRENDERABLE
        assert isinstance(orjson.loads(response.body)["detail"], str)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "path,location",
    [
        ("/fitness/wod/", "/fitness/wod"),
        ("/fitness/wod/?tz=UTC&fresh=no", "/fitness/wod?tz=UTC&fresh=no"),
        ("/fitness/wod///", "/fitness/wod"),
        ("/health/", "/health"),
    ],
)
def test_the_trailing_slash_redirect_is_relative(client, method, path, location):
    """Issue 26: the redirect's Location was built from the client's Host and
    X-Forwarded-Proto (http://evil.example/fitness/wod); now it is the path alone."""
    response = client.request(
        method,
        path,
        headers={**bearer(), "Host": "evil.example", "X-Forwarded-Proto": "https"},
        follow_redirects=False,
    )
    assert response.status_code == 307
    assert response.headers["location"] == location


@pytest.mark.parametrize("path", ["/nowhere/", "//evil.example/", "/fitness/", "/fitness/wo/"])
def test_a_trailing_slash_to_no_route_is_a_json_404(client, path):
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
