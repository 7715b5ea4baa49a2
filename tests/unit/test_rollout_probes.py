"""What the canary reads from a rendered coach.conf (rollout/probes.py) and the metrics it
exposes (rollout/metrics.py)."""

from __future__ import annotations

import socket

from rollout.metrics import RolloutMetrics
from rollout.probes import coach_urls_from_conf, percent_from_conf, probe_all, probe_timeout
from rollout.state import Config, State

CONF = """
upstream coach {
    server 10.0.0.11:8000 max_fails=1 fail_timeout=5s;
    server coach-2.internal:8000 max_fails=1 fail_timeout=5s;
    keepalive 32;
}

upstream legacy {
    server 10.0.2.9:8080;
    keepalive 32;
}

map $coach_bucket $coach_side {
    "~^bx{25}"  legacy;
    default                  coach;
}
"""


def test_the_replicas_are_the_coach_upstream_servers():
    assert coach_urls_from_conf(CONF) == ["http://10.0.0.11:8000", "http://coach-2.internal:8000"]
    assert coach_urls_from_conf("upstream legacy { server a:1; }") == []


def test_the_percentage_is_the_map_regex():
    assert percent_from_conf(CONF) == 25
    assert percent_from_conf(CONF.replace("{25}", "{0}")) == 0
    assert percent_from_conf("server { listen 80; }") is None


def test_the_metrics_have_the_dashboard_names():
    """Exactly the names the dashboard uses; one state is 1; decisions carry on from the
    state's counts without going down."""
    metrics = RolloutMetrics()
    state = State(
        config=Config(), status="holding", step=2, percent=10, counts={"advance": 3, "hold": 2}
    )
    metrics.update(state, {"fallback_ratio": 0.002, "lag_records": 4})
    text = metrics.text().decode().splitlines()
    for line in (
        "coach_rollout_percent 10.0",
        "coach_rollout_step 2.0",
        'coach_rollout_state{state="holding"} 1.0',
        'coach_rollout_state{state="running"} 0.0',
        'coach_rollout_state{state="rolled_back"} 0.0',
        'coach_rollout_decisions_total{decision="advance"} 3.0',
        'coach_rollout_decisions_total{decision="hold"} 2.0',
        'coach_rollout_check_value{check="fallback_ratio"} 0.002',
        'coach_rollout_check_value{check="lag_records"} 4.0',
    ):
        assert line in text, line
    state.counts = {"advance": 4, "hold": 2}
    metrics.update(state)
    assert 'coach_rollout_decisions_total{decision="advance"} 4.0' in metrics.text().decode()


def test_the_probe_timeout_is_2_s_or_half_the_analysis_interval():
    """The documented rollback bound counts one probe timeout per analysis."""
    assert probe_timeout(60) == 2.0
    assert probe_timeout(1) == 0.5
    assert probe_timeout(0.5) == 0.25


def test_a_replica_that_never_answers_is_not_ready_and_prometheus_an_error():
    """A socket that takes connections and never answers (a frozen process) stands for a
    replica and for Prometheus: probe_all reports the replica not ready, naming the timeout,
    and the alerts as unknown with the reason; the healthy-looking one is not waited for
    past it."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # never accepted: the kernel completes the handshake, nobody reads
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        probed = probe_all([url, url], url, timeout=0.2)
    assert [r.ready for r in probed.replicas] == [False, False]
    assert all("did not answer within 0.2 s" in r.detail for r in probed.replicas)
    assert probed.alerts is None
    assert probed.alerts_error is not None and "0.2 s" in probed.alerts_error
