"""Schema-based fuzzing: schemathesis generates requests from the app's own OpenAPI document
(valid ones and invalid ones) and checks every response: never a 5xx, status codes, headers,
content types and bodies as documented, 401 without a valid token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from api.app import create_app
from config.settings import Settings
from store.instants import now_us
from tests.factories import completed, upserted
from tests.integration.conftest import make_token

pytestmark = pytest.mark.slow  # property-based runs over the whole API: `make check` skips it

MAX_EXAMPLES = 40


@pytest.fixture
def app(settings: Settings, project, record_status) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """The api over a small projection: a catalog, two users' history, a consumer status."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    project(
        [
            *(upserted(i, weight=10.0 + i) for i in range(1, 21)),
            completed("w1", "7", yesterday, [(1, 50.0, 5), (2, 20.0, 12)]),
            completed("w2", "8", yesterday - timedelta(hours=20), [(3, 70.0, 3)]),
        ]
    )
    now = now_us()
    record_status(
        partitions=[
            ("fitness.exercises", 0, 20, 20, now, now),
            ("fitness.workouts", 0, 2, 5, now, now),
        ],
        heartbeat_at_us=now,
        dead_letters=1,
    )
    yield create_app(settings)
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()  # close the app's projection connection


@pytest.fixture
def api_schema(app):  # type: ignore[no-untyped-def]
    config = schemathesis.Config.from_dict(
        {
            # The bearer scheme of the document, with a valid token of user 7 in Berlin.
            "auth": {"openapi": {"bearer": {"bearer": make_token("7", zoneinfo="Europe/Berlin")}}},
            # Unknown query parameters are ignored by design (cache busters and the like), so
            # adding one does not make a request invalid.
            "generation": {"allow-extra-parameters": False},
        }
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


# schemathesis' own pytest integration (`from_fixture(...).parametrize()`) does not run on
# pytest 9 (it sets a private attribute of the test node), so the strategies of each
# operation are run with hypothesis directly.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(api_schema, mode):
    """No input gives a 5xx; every response is what /openapi.json documents; valid input
    is accepted and invalid input refused; requests without a valid token get a 401."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/fitness/wod", "/health", "/ready", "/lag"}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not operation.query:
            continue  # nothing to make invalid (the bearer token is checked on its own)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case):  # type: ignore[no-untyped-def]
            case.call_and_validate()

        conforms()


def test_openapi_documents_the_bearer_scheme_and_models(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    wod = document["paths"]["/fitness/wod"]["get"]
    assert wod["security"] == [{"bearer": []}]
    assert set(wod["responses"]) >= {"200", "401", "422", "503"}
    assert wod["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WodResponse"
    }
    assert "X-Data-Age" in wod["responses"]["200"]["headers"]
    for path in ("/health", "/ready", "/lag", "/metrics"):
        assert "security" not in document["paths"][path]["get"], path
    assert "/bench/ceiling" not in document["paths"]
