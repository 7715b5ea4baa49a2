"""Raising the share on a running nginx, the way the canary does it (set-percent.sh, a
graceful reload), keeps every user already on coach on coach."""

from __future__ import annotations

import os
import subprocess

from tests.rollout.conftest import SET_PERCENT
from tests.routing.conftest import (  # noqa: F401 (fixtures)
    Backend,
    call,
    coach,
    legacy,
    nginx_bin,
    start_nginx,
)


def test_users_on_coach_at_5_are_still_on_coach_at_25(start_nginx, coach, legacy):  # noqa: F811
    """800 users at 5 %, then set-percent.sh 25 on the same nginx: the users coach had at
    5 % are a strict subset of those it has at 25 %, and the shares are about right."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=5)
    users = [f"canary-user-{i}.token" for i in range(800)]

    def on_coach() -> set[str]:
        return {u for u in users if call(nginx.port, token=u).served_by == "coach"}

    at_5 = on_coach()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update(
        COACH_NGINX_BIN=nginx.binary, COACH_NGINX_ARGS=f"-p {nginx.root} -c {nginx.main_conf}"
    )
    moved = subprocess.run(
        [str(SET_PERCENT), "25", str(nginx.conf)], env=env, capture_output=True, text=True
    )
    assert moved.returncode == 0, moved.stderr
    at_25 = on_coach()
    assert 20 <= len(at_5) <= 60, len(at_5)
    assert 150 <= len(at_25) <= 250, len(at_25)
    assert at_5 < at_25
