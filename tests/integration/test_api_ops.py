"""Operational endpoints and the WOD's freshness headers, over the status rows the consumer
writes (partitions, consumer_status, dead_letters). None of them needs Kafka."""

from __future__ import annotations

import re
import time

from prometheus_client.parser import text_string_to_metric_families

from tests.factories import upserted
from tests.integration.conftest import bearer

S = 1_000_000
NOW = 1_900_000_000 * S  # the apps below run on this fixed clock


def clock() -> int:
    return NOW


def caught_up(record_status, *, heartbeat_s: float = -1, **kwargs):  # type: ignore[no-untyped-def]
    """Two partitions, no lag; the consumer beat `heartbeat_s` seconds from NOW."""
    record_status(
        partitions=[
            ("fitness.exercises", 0, 48, 48, NOW - 3600 * S, NOW - 600 * S),
            ("fitness.workouts", 0, 900, 900, NOW - 20 * S, NOW - 10 * S),
        ],
        heartbeat_at_us=NOW + int(heartbeat_s * S),
        **kwargs,
    )


# -- /health -----------------------------------------------------------------------------------


def test_health_answers_without_catalog_or_consumer(api):
    with api(clock=clock) as client:
        assert client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_unreadable_projection_fails_health_ready_and_lag_but_not_metrics(api):
    with api(clock=clock) as client:
        client.app.state.coach.conn.close()  # type: ignore[attr-defined]
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "failing"
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["failing"] == ["database"]
        assert client.get("/lag").status_code == 503
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert "coach_projection_readable 0.0" in metrics.text


# -- /ready ------------------------------------------------------------------------------------


def test_ready_when_catalog_heartbeat_and_lag_hold(api, project, record_status):
    project([upserted(1), upserted(2)])
    caught_up(record_status)
    with api(clock=clock) as client:
        response = client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert [c["name"] for c in body["checks"]] == [
        "catalog",
        "heartbeat",
        "lag",
        "data_age",
        "storage",
    ]


def test_not_ready_names_each_failing_condition(api, project, record_status):
    """No catalog, a heartbeat 31 s old and 1001 records of lag: all three are named."""
    record_status(
        partitions=[("fitness.workouts", 0, 100, 1101, NOW - 60 * S, NOW - 31 * S)],
        heartbeat_at_us=NOW - 31 * S,
    )
    with api(clock=clock, ready_max_lag=1000, ready_max_heartbeat_age_seconds=30) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failing"] == ["catalog", "heartbeat", "lag"]
    details = {c["name"]: c["detail"] for c in body["checks"]}
    assert "31.0 s" in details["heartbeat"] and "1001 records" in details["lag"]


def test_not_ready_before_the_consumer_ever_ran(api, project):
    project([upserted(1)])
    with api(clock=clock) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["heartbeat", "lag", "data_age"]


def test_ready_limits_come_from_the_settings(api, project, record_status):
    project([upserted(1)])
    record_status(
        partitions=[("fitness.workouts", 0, 100, 150, NOW - 5 * S, NOW - 1 * S)],
        heartbeat_at_us=NOW - 50 * S,
    )
    with api(clock=clock, ready_max_lag=50, ready_max_heartbeat_age_seconds=60) as client:
        assert client.get("/ready").status_code == 200
    with api(clock=clock, ready_max_lag=49, ready_max_heartbeat_age_seconds=60) as client:
        assert client.get("/ready").json()["failing"] == ["lag"]
    with api(clock=clock, ready_max_lag=50, ready_max_data_age_seconds=4) as client:
        assert client.get("/ready").json()["failing"] == ["heartbeat", "data_age"]


# -- /lag --------------------------------------------------------------------------------------


def test_lag_reports_each_partition_and_the_heartbeat(api, record_status):
    record_status(
        partitions=[
            ("fitness.exercises", 0, 48, 48, NOW - 3600 * S, NOW - 600 * S),
            ("fitness.workouts", 0, 900, 950, NOW - 20 * S, NOW - 1 * S),
            ("fitness.workouts", 1, 10, None, None, NOW - 1 * S),
        ],
        heartbeat_at_us=NOW - 2 * S,
        broker_reachable=True,
        last_error=None,
        dead_letters=3,
    )
    with api(clock=clock) as client:
        body = client.get("/lag").json()
    assert body["partitions"] == [
        {
            "topic": "fitness.exercises",
            "partition": 0,
            "next_offset": 48,
            "high_watermark": 48,
            "lag": 0,
            "last_event_at": "2030-03-17T16:46:40.000000Z",
        },
        {
            "topic": "fitness.workouts",
            "partition": 0,
            "next_offset": 900,
            "high_watermark": 950,
            "lag": 50,
            "last_event_at": "2030-03-17T17:46:20.000000Z",
        },
        {
            "topic": "fitness.workouts",
            "partition": 1,
            "next_offset": 10,
            "high_watermark": None,
            "lag": None,
            "last_event_at": None,
        },
    ]
    assert body["total_lag"] is None  # one partition's high watermark is unknown
    assert body["heartbeat_age_seconds"] == 2.0
    assert body["heartbeat_at"] == "2030-03-17T17:46:38.000000Z"
    assert body["broker_reachable"] is True and body["dead_letters"] == 3


def test_lag_sums_known_partitions_and_shows_the_consumer_error(api, record_status):
    record_status(
        partitions=[("fitness.workouts", 0, 900, 950, NOW - 20 * S, NOW - 1 * S)],
        heartbeat_at_us=NOW - 2 * S,
        broker_reachable=False,
        last_error="broker unreachable (KafkaConnectionError)",
    )
    with api(clock=clock) as client:
        body = client.get("/lag").json()
    assert body["total_lag"] == 50 and body["data_age_seconds"] == 20
    assert body["broker_reachable"] is False and "unreachable" in body["last_error"]


# -- freshness headers on the WOD ----------------------------------------------------------------


def test_every_wod_says_how_fresh_its_data_is(api, project, record_status):
    """Caught up: lag 0, and the data is as old as the last heartbeat (2 s)."""
    project([upserted(i) for i in range(1, 8)])
    caught_up(record_status, heartbeat_s=-2)
    with api(clock=clock) as client:
        response = client.get("/fitness/wod", headers=bearer())
    assert response.status_code == 200
    assert response.headers["X-Projection-Lag"] == "0"
    assert response.headers["X-Data-Age"] == "2"


def test_a_lagging_projection_reports_lag_and_the_age_of_its_last_event(
    api, project, record_status
):
    project([upserted(i) for i in range(1, 8)])
    record_status(
        partitions=[
            ("fitness.exercises", 0, 48, 48, NOW - 3600 * S, NOW - 600 * S),
            ("fitness.workouts", 0, 900, 1200, NOW - 95 * S, NOW - 1 * S),
            ("fitness.workouts", 1, 400, 420, NOW - 30 * S, NOW - 1 * S),
        ],
        heartbeat_at_us=NOW - 1 * S,
    )
    with api(clock=clock) as client:
        response = client.get("/fitness/wod", headers=bearer())
    assert response.headers["X-Projection-Lag"] == "320"
    assert response.headers["X-Data-Age"] == "95"


def test_freshness_is_unknown_before_the_consumer_recorded_anything(api, project, record_status):
    project([upserted(1)])
    record_status(partitions=[], heartbeat_at_us=None)
    with api(clock=clock) as client:
        response = client.get("/fitness/wod", headers=bearer())
    assert response.headers["X-Projection-Lag"] == "unknown"
    assert response.headers["X-Data-Age"] == "unknown"


def test_the_status_is_read_at_most_once_per_status_cache_seconds(api, project, record_status):
    """With the default reuse, a status change shows after the cache expires, not before."""
    project([upserted(1)])
    caught_up(record_status)
    with api(clock=clock, status_cache_seconds=3600) as client:
        assert client.get("/fitness/wod", headers=bearer()).headers["X-Projection-Lag"] == "0"
        record_status(
            partitions=[("fitness.workouts", 0, 900, 1000, NOW - 9 * S, NOW - S)],
            heartbeat_at_us=NOW - S,
        )
        assert client.get("/fitness/wod", headers=bearer()).headers["X-Projection-Lag"] == "0"
    with api(clock=clock, status_cache_seconds=0) as client:
        assert client.get("/fitness/wod", headers=bearer()).headers["X-Projection-Lag"] == "100"


# -- /metrics ----------------------------------------------------------------------------------


def scrape(client) -> dict[str, list]:  # type: ignore[no-untyped-def,type-arg]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


def test_metrics_count_requests_by_route_template_and_status(api, project, record_status):
    project([upserted(i) for i in range(1, 8)])
    caught_up(record_status)
    with api(clock=clock) as client:
        for _ in range(3):
            client.get("/fitness/wod", headers=bearer(), params={"tz": "Asia/Tokyo"})
        client.get("/fitness/wod")  # 401
        client.get("/no/such/path/42")  # 404
        metrics = scrape(client)
    counts = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in metrics["coach_http_requests"]
        if s.name == "coach_http_requests_total"
    }
    assert counts[("/fitness/wod", "200")] == 3
    assert counts[("/fitness/wod", "401")] == 1
    assert counts[("unmatched", "404")] == 1
    assert not any("42" in route or "Tokyo" in route for route, _ in counts)
    histogram = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in metrics["coach_http_request_duration_seconds"]
        if s.name.endswith("_count")
    }
    assert histogram[("/fitness/wod", "200")] == 3


def test_mirrored_requests_are_counted_apart_and_stay_out_of_the_slo_metrics(
    api, project, record_status
):
    """nginx's shadow mirror marks its copies with X-Coach-Shadow: no user waits for them,
    so they are counted in coach_shadow_requests_total, never in coach_http_requests_total
    or the latency histogram the SLO alerts read."""
    project([upserted(i) for i in range(1, 8)])
    caught_up(record_status)
    with api(clock=clock) as client:
        client.get("/fitness/wod", headers=bearer())
        for _ in range(4):
            client.get("/fitness/wod", headers={**bearer(), "X-Coach-Shadow": "1"})
        client.get("/fitness/wod", headers={"X-Coach-Shadow": "1"})  # 401, mirrored
        metrics = scrape(client)
    real = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in metrics["coach_http_requests"]
        if s.name == "coach_http_requests_total"
    }
    assert real == {("/fitness/wod", "200"): 1}
    slo_histogram = [
        s.value
        for s in metrics["coach_http_request_duration_seconds"]
        if s.name.endswith("_count") and s.labels["route"] == "/fitness/wod"
    ]
    assert slo_histogram == [1]
    shadow = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in metrics["coach_shadow_requests"]
        if s.name == "coach_shadow_requests_total"
    }
    assert shadow == {("/fitness/wod", "200"): 4, ("/fitness/wod", "401"): 1}


def test_the_latency_slo_threshold_is_a_bucket():
    """The SLO alerts count requests under the threshold from one bucket's `le`; a threshold
    between buckets would make them interpolate."""
    from api.metrics import LATENCY_BUCKETS, SLO_LATENCY_SECONDS

    assert SLO_LATENCY_SECONDS in LATENCY_BUCKETS


def test_metrics_read_lag_and_dead_letters_at_scrape_time(api, project, record_status):
    project([upserted(1), upserted(2)])
    record_status(
        partitions=[
            ("fitness.exercises", 0, 48, 48, NOW - 3600 * S, NOW - 600 * S),
            ("fitness.workouts", 2, 900, 950, NOW - 20 * S, NOW - 1 * S),
        ],
        heartbeat_at_us=NOW - 4 * S,
        dead_letters=2,
    )
    with api(clock=clock) as client:
        metrics = scrape(client)
        lag = {
            (s.labels["topic"], s.labels["partition"]): s.value
            for s in metrics["coach_projection_lag_records"]
        }
        assert lag == {("fitness.exercises", "0"): 0, ("fitness.workouts", "2"): 50}
        assert metrics["coach_dead_letters"][0].value == 2
        assert metrics["coach_consumer_heartbeat_age_seconds"][0].value == 4
        assert metrics["coach_catalog_exercises"][0].value == 2
        # Written after the first scrape, seen by the next one: read at scrape time.
        record_status(partitions=[], heartbeat_at_us=NOW, dead_letters=5)
        assert scrape(client)["coach_dead_letters"][0].value == 7


def test_metrics_give_the_ready_verdict_and_each_check(api, project, record_status):
    """`coach_ready` is GET /ready's verdict at scrape time and `coach_ready_check` names each
    check, from the same checks (the readiness alert reads them); 0 when unreadable."""
    project([upserted(1)])
    caught_up(record_status)
    with api(clock=clock) as client:
        metrics = scrape(client)
        assert client.get("/ready").status_code == 200
        assert metrics["coach_ready"][0].value == 1
        assert {s.labels["check"]: s.value for s in metrics["coach_ready_check"]} == {
            "catalog": 1,
            "heartbeat": 1,
            "lag": 1,
            "data_age": 1,
            "storage": 1,
        }
    caught_up(record_status, heartbeat_s=-31)
    with api(clock=clock, ready_max_heartbeat_age_seconds=30) as client:
        metrics = scrape(client)
        assert client.get("/ready").json()["failing"] == ["heartbeat"]
        assert metrics["coach_ready"][0].value == 0
        checks = {s.labels["check"]: s.value for s in metrics["coach_ready_check"]}
        assert [name for name, ok in checks.items() if not ok] == ["heartbeat"]
        client.app.state.coach.conn.close()  # type: ignore[attr-defined]
        assert scrape(client)["coach_ready"][0].value == 0


def test_each_app_has_its_own_registry(api, project):
    """Two apps in one process do not share (or clash on) metrics."""
    project([upserted(1)])
    with api(clock=clock) as one, api(clock=clock) as two:
        one.get("/health")
        one.get("/health")
        two.get("/health")
        text = two.get("/metrics").text
    assert re.search(r'coach_http_requests_total\{[^}]*route="/health"[^}]*\} 1\.0', text)


def test_a_stall_of_the_event_loop_shows_in_the_loop_lag_histogram(api, project, record_status):
    """Something holding the api's event loop for 0.3 s (here: a sleep run on the loop
    itself) is measured where it happens: coach_event_loop_lag_seconds gains a sample above
    0.25 s."""
    project([upserted(1)])
    with api(clock=clock) as client:
        time.sleep(0.2)  # the monitor's first samples

        def lag_at_least(seconds: float) -> float:
            samples = scrape(client)["coach_event_loop_lag_seconds"]
            total = next(s.value for s in samples if s.name.endswith("_count"))
            below = next(
                s.value
                for s in samples
                if s.name.endswith("_bucket") and float(s.labels["le"]) == seconds
            )
            return total - below

        before = lag_at_least(0.25)  # (0 on a quiet machine)
        client.portal.call(time.sleep, 0.3)  # type: ignore[union-attr]
        time.sleep(0.15)  # the monitor's next wake-up records it
        assert lag_at_least(0.25) >= before + 1
        assert client.app.state.loop_lag.worst >= 0.25  # type: ignore[attr-defined]


# -- COACH_WOD_ONLY_WHEN_READY (replicas behind nginx) ------------------------------------------


def test_wod_only_when_ready_refuses_with_503_while_ready_fails(api, project, record_status):
    """With the setting, a replica whose /ready fails answers the WOD with 503 (nginx asks the
    next replica); caught up again, it answers. Without it, the same replica answers."""
    project([upserted(1), upserted(2)])
    caught_up(record_status, heartbeat_s=-31)  # the consumer stopped 31 s ago
    with api(clock=clock, wod_only_when_ready=True) as client:
        refused = client.get("/fitness/wod", headers=bearer())
        assert refused.status_code == 503, refused.text
        assert "heartbeat" in refused.json()["detail"] and refused.headers["retry-after"]
        assert client.get("/ready").status_code == 503
        caught_up(record_status)  # its consumer beats again
        assert client.get("/fitness/wod", headers=bearer()).status_code == 200
    caught_up(record_status, heartbeat_s=-31)
    with api(clock=clock) as client:
        assert client.get("/fitness/wod", headers=bearer()).status_code == 200
