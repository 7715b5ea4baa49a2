"""Three coach replicas (each its own `coach consume` and `coach api` and projection file) on
one real broker, behind a real nginx running deploy/nginx/coach.conf.template.

While events flow and clients ask for WODs through nginx: one replica's consumer is killed
and started again mid-stream, the third replica starts late (not ready, then catching up),
the first is restarted whole under load. No request fails. After catch-up the three files
have the same table checksums (what `coach replay` compares) and the three apis give every
sampled user the same WOD and suggestions. Then a replica whose consumer stopped is not
ready: its api answers 503 and nginx sends its requests to the others."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from pathlib import Path

import jwt
import pytest

from tests.conftest import SECRET
from tests.e2e.helpers import Service, coach, free_port, wait_for
from tests.e2e.test_consumer_faults import Truth, applied_records, publish
from tests.e2e.test_replay import Load, sums_of
from tests.routing.conftest import (  # noqa: F401 (fixtures)
    Backend,
    nginx_bin,
    running,
    start_nginx,
)
from tests.routing.test_fallback import fields

pytestmark = pytest.mark.broker


class Replica:
    def __init__(self, settings, root: Path, name: str) -> None:  # type: ignore[no-untyped-def]
        self.name = name
        self.root = root
        self.settings = settings.model_copy(update={"db_path": root / name / "coach.db"})
        self.port = free_port()
        self.consumer: Service | None = None
        self.api: Service | None = None
        self._starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_consumer(self) -> None:
        self._starts += 1
        self.consumer = Service(
            self.settings, self.root / f"{self.name}-consume-{self._starts}.log", "consume"
        )

    def start_api(self) -> None:
        self._starts += 1
        self.api = Service(
            self.settings,
            self.root / f"{self.name}-api-{self._starts}.log",
            "api",
            "--port",
            str(self.port),
        )
        wait_for(
            f"{self.name}'s api", lambda: _get(self.port, "/health")[0] == 200, service=self.api
        )

    def applied(self) -> int:
        return applied_records(self.settings)

    def stop(self) -> None:
        for service in (self.api, self.consumer):
            if service is not None:
                service.stop()


def _get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_three_replicas_answer_alike_and_nginx_hides_restarts(
    kafka_settings,
    tmp_path,
    start_nginx,  # noqa: F811
):
    settings = kafka_settings.model_copy(
        update={
            "topic_partitions": 3,
            "wod_only_when_ready": True,
            "ready_max_heartbeat_age_seconds": 5.0,
            "status_cache_seconds": 0.2,
        }
    )
    truth = Truth(workouts=2_400, seed=23)
    head = 1_000
    coach(settings, "topics", "create")
    publish(settings, truth.records[:head])
    replicas = [Replica(settings, tmp_path, f"r{i}") for i in (1, 2, 3)]
    with running(Backend("legacy")) as legacy:
        try:
            for r in replicas[:2]:
                r.start_consumer()
                r.start_api()
            for r in replicas[:2]:
                wait_for(
                    f"{r.name} ready", lambda r=r: _get(r.port, "/ready")[0] == 200, timeout=120
                )
            # The third replica is not started: nginx finds it refusing connections.
            nginx = start_nginx(
                coach=[r.address for r in replicas], legacy=legacy.address, percent=100
            )
            rest = truth.records[head:]
            third = len(rest) // 3
            with Load(nginx.port, threads=3) as streaming:
                # Events flow; replica 2's consumer is killed and started again mid-stream.
                publish(settings, rest[:third])
                assert replicas[1].consumer is not None
                replicas[1].consumer.stop(signal.SIGKILL)
                flowing = threading.Thread(target=publish, args=(settings, rest[third:]))
                flowing.start()
                replicas[1].start_consumer()
                # Replica 3 starts late, from nothing: not ready (503) until caught up.
                replicas[2].start_consumer()
                replicas[2].start_api()
                flowing.join()
                for r in replicas:
                    wait_for(
                        f"{r.name} caught up",
                        lambda r=r: r.applied() == len(truth.records),
                        timeout=120,
                        service=r.consumer,
                    )
                    wait_for(f"{r.name} ready", lambda r=r: _get(r.port, "/ready")[0] == 200)
            # No request failed; while no replica was ready, the monolith answered.
            assert set(streaming.statuses) == {200}, streaming.statuses

            # Replica 1 restarted whole under load, the two others ready: no request fails,
            # none needs the monolith, and the restarted replica serves again. First, past
            # fail_timeout: a replica that answered 503 while it caught up gets no request
            # from nginx for 5 s after, even once its /ready says 200 (passive checks).
            time.sleep(6)
            fallbacks = legacy.count()
            with Load(nginx.port, threads=3) as restarting:
                time.sleep(0.5)
                replicas[0].stop()
                replicas[0].start_consumer()
                replicas[0].start_api()
                wait_for("r1 ready", lambda: _get(replicas[0].port, "/ready")[0] == 200)
                time.sleep(6)  # past fail_timeout: nginx asks r1 again
            assert set(restarting.statuses) == {200}, restarting.statuses
            assert legacy.count() == fallbacks
            lines = nginx.log_lines(at_least=streaming.total + restarting.total)
            last_upstreams = [fields(line)["upstream"].split(", ")[-1] for line in lines[-200:]]
            assert {r.address for r in replicas} <= set(last_upstreams)

            # The same rows in the three files, and the same answers from the three apis.
            sums = [sums_of(r.settings.db_path) for r in replicas]
            assert sums[0] == sums[1] == sums[2]
            now = int(time.time())
            for user in range(1, 501, 12):
                token = jwt.encode({"sub": str(user), "exp": now + 600}, SECRET, algorithm="HS256")
                answers = []
                for r in replicas:
                    status, body = _get(r.port, "/fitness/wod", token)
                    assert status == 200, body
                    answers.append(json.loads(body)["exercises"])
                assert answers[0] == answers[1] == answers[2], user

            # A replica whose consumer stopped is not ready: its api answers 503, and nginx
            # sends its share to the others (after one try, then not for fail_timeout).
            assert replicas[2].consumer is not None
            assert replicas[2].consumer.stop() == 0
            token = jwt.encode({"sub": "7", "exp": now + 600}, SECRET, algorithm="HS256")
            wait_for(
                "r3 not ready",
                lambda: _get(replicas[2].port, "/fitness/wod", token)[0] == 503,
                timeout=30,
            )
            before = legacy.count()
            answers = [_get(nginx.port, "/fitness/wod", token) for _ in range(30)]
            assert {status for status, _ in answers} == {200}
            assert legacy.count() == before
            assert len({json.dumps(json.loads(b)["exercises"]) for _, b in answers}) == 1
        finally:
            for r in replicas:
                r.stop()
