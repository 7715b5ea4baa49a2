"""Shadow traffic reaching a real coach (fed the demo data through the real broker) behind a
real nginx: mirrored requests are counted in coach_shadow_requests_total and stay out of the
SLO metrics; a client's own X-Coach-Shadow is cleared on the way to coach."""

from __future__ import annotations

import time
import urllib.request

import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SECRET
from tests.e2e.coach_stack import Stack, running_stack
from tests.routing.conftest import Backend
from tests.routing.split import side
from tests.routing.test_shadow import Client, eventually, start_shadow

pytestmark = pytest.mark.broker
_stack = pytest.fixture(scope="module", name="stack")(running_stack)


def wod_counts(url: str) -> tuple[float, float]:
    """(coach_shadow_requests_total, coach_http_requests_total) for GET /fitness/wod 200."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    shadow = slo = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("route") != "/fitness/wod" or s.labels.get("status") != "200":
                continue
            if s.name == "coach_shadow_requests_total":
                shadow += s.value
            elif s.name == "coach_http_requests_total":
                slo += s.value
    return shadow, slo


def token(user: int) -> str:
    return jwt.encode({"sub": str(user), "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


def test_mirrored_requests_stay_out_of_coachs_slo_metrics(
    stack: Stack, start_nginx, monkeypatch, legacy: Backend
):
    """Half the users on coach, the shadow at 100 %: each monolith user's GET is answered by the
    monolith and counted by coach as shadow traffic only; each coach user's GET, sent with
    X-Coach-Shadow: 1 by the client, is counted in coach's SLO metrics all the same."""
    coach = Backend("coach", port=stack.port)  # the real one: only its address is used
    nginx = start_shadow(
        start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=50, shadow=100
    )
    tokens = {user: token(user) for user in range(1, 61)}
    on_legacy = [u for u, t in tokens.items() if side(f"Bearer {t}", 50) == "legacy"]
    on_coach = [u for u, t in tokens.items() if side(f"Bearer {t}", 50) == "coach"]
    assert on_legacy and on_coach
    shadow_before, slo_before = wod_counts(stack.url)

    client = Client(nginx.port)
    try:
        for user in on_legacy:
            status, body, _ = client.get(tokens[user])
            assert (status, b'"served_by": "legacy"' in body) == (200, True)
        for user in on_coach:
            status, body, _ = client.get(tokens[user], **{"X-Coach-Shadow": "1"})
            assert (status, b'"exercises"' in body) == (200, True)
    finally:
        client.close()

    expected = (shadow_before + len(on_legacy), slo_before + len(on_coach))
    assert eventually(lambda: wod_counts(stack.url) == expected), (wod_counts(stack.url), expected)
