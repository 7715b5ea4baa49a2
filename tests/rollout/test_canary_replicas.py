"""The canary with two real coach replicas behind the real nginx: a replica restarted while
nginx routes around it (no failed request, no fallback) is not coach's failure: the step
waits for it, and the rollout goes on once it is back."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import Service, wait_for
from tests.rollout.conftest import Canary, Coach, Load, get, start_coach
from tests.rollout.test_canary import options, users_saw_no_error

pytestmark = pytest.mark.broker


def restart_api(replica: Coach) -> None:
    """Start the replica's (stopped) api again on the same port; wait until it is ready."""
    replica.api = Service(
        replica.settings, replica.root / "api-2.log", "api", "--port", str(replica.port)
    )
    wait_for("the replica ready again", lambda: get(replica.port, "/ready")[0] == 200, 60)


def test_a_replica_restarted_mid_step_is_waited_for_not_rolled_back(
    kafka_bootstrap, start_nginx, monolith, tmp_path, canaries
):
    """Two replicas; at 25 % one replica's api is stopped until the canary has held for it,
    then started again: nginx sends its requests to the other (no failed request, no fallback), the
    canary holds while the replica is not ready ("1 of 2 replicas not ready"), never fails,
    and then finishes at 100 %."""
    a = start_coach(kafka_bootstrap, tmp_path / "a")
    b = start_coach(kafka_bootstrap, tmp_path / "b")
    try:
        nginx = start_nginx(coach=[a.address, b.address], legacy=monolith, percent=0)
        canary = Canary(nginx, tmp_path / "canary")
        canaries.append(canary)
        with Load(nginx.port, threads=4) as load:
            # a long extension: a restart on a loaded machine may take a while, and past
            # hold + extension the step would end in an inconclusive pause
            opts = options(a.url, hold=3, **{"max-extension": 120})
            opts += ["--coach", b.url]
            canary.start("--steps", "5,25,100", *opts)
            canary.wait_until("at 25 %", lambda s: s["percent"] == 25)
            b.api.stop()
            wait_for("b's /ready refused", lambda: _refused(b.port), 10)
            canary.wait_until(
                "a hold for the replica",
                lambda _s: any("replicas not ready" in d["reason"] for d in canary.decisions()),
                20,
            )
            assert canary.state()["percent"] == 25
            restart_api(b)  # stopped above
            code = canary.wait(90)
        decisions = canary.decisions()
        assert code == 0, canary.log()[-3000:]
        assert not [d for d in decisions if d["decision"] in ("fail", "rollback")], decisions
        assert (canary.state()["status"], canary.nginx_percent()) == ("done", 100)
        users_saw_no_error(load)
        assert not [line for line in nginx.log_lines() if "served_by=legacy_fallback" in line]
    finally:
        a.stop()
        b.stop()


def _refused(port: int) -> bool:
    try:
        get(port, "/ready")
    except OSError:
        return True
    return False
