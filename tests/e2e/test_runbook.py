"""docs/RUNBOOK.md's procedures, run as the RUNBOOK shows them, so that it cannot drift.

A fenced block right after a `<!-- runbook-test: NAME -->` line is extracted and run as it
stands (`bash -e -u -o pipefail`: a variable the scenario does not set fails it), from
coach's checkout, with the `COACH_*` settings of a real projection on a real broker and the
variables its section names in the environment; the routing and canary blocks run against
a real nginx rendered from the template (tests/e2e/runbook_parts.py). A block that starts
services (a new replica, the canary's controller) runs in a session of its own.
Each NAME has a scenario here (`@scenario("NAME")`): it builds the situation the section
is about, runs the block, and checks what the section says. A marked block without a
scenario, or a scenario without its block, fails `test_every_marked_block_has_a_scenario`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from config.settings import Settings
from store import dead_letters, files, reads
from store.db import connect, transaction
from store.instants import now_us
from tests.conftest import REPO, env_of
from tests.e2e import runbook_keys, runbook_scenarios  # noqa: F401 (register their scenarios)
from tests.e2e.helpers import Service, coach, free_port, lines, produce_raw, wait_for
from tests.e2e.runbook_parts import (
    SCENARIOS,
    USERS,
    Block,
    canary_started,
    nginx_at,
    nginx_variables,
    scenario,
    sides_of,
    stop_session,
    until_routed,
)
from tests.e2e.test_consumer_faults import applied_records
from tests.factories import completed, key_of, upserted, user_erased, value_of

RUNBOOK = REPO / "docs" / "RUNBOOK.md"
MARKER = re.compile(r"^<!-- runbook-test: ([a-z0-9][a-z0-9-]*) -->$", re.MULTILINE)
FENCE = re.compile(r"\n*```(?:sh|bash)\n(.*?)\n```", re.DOTALL)


class RunbookError(Exception):
    """The RUNBOOK's markers are not as this test reads them."""


def marked_blocks(text: str) -> dict[str, str]:
    """NAME -> the shell block right after each `<!-- runbook-test: NAME -->` line."""
    blocks: dict[str, str] = {}
    for mark in MARKER.finditer(text):
        name = mark.group(1)
        fence = FENCE.match(text, mark.end())
        if fence is None:
            raise RunbookError(f"runbook-test {name}: no ```sh block right after the marker")
        if name in blocks:
            raise RunbookError(f"runbook-test {name}: marked twice")
        blocks[name] = fence.group(1)
    return blocks


BLOCKS = marked_blocks(RUNBOOK.read_text())


def test_every_marked_block_has_a_scenario():
    assert BLOCKS, "no runbook-test marker in docs/RUNBOOK.md"
    assert sorted(BLOCKS) == sorted(SCENARIOS)


def test_the_markers_are_read_strictly():
    """A marker must be followed by a shell block (blank lines allowed), once per name."""
    text = "a\n<!-- runbook-test: x -->\n\n```sh\necho 1\necho 2\n```\n"
    assert marked_blocks(text) == {"x": "echo 1\necho 2"}
    with pytest.raises(RunbookError, match="no ```sh block"):
        marked_blocks("<!-- runbook-test: y -->\nprose\n```sh\necho\n```\n")
    with pytest.raises(RunbookError, match="marked twice"):
        marked_blocks(text + text)


@pytest.mark.broker
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_runbook_procedure(name: str, request: pytest.FixtureRequest) -> None:
    """The RUNBOOK's block NAME, run as it stands, does what its section says."""
    if name not in SCENARIOS:
        pytest.fail(f"no scenario for the RUNBOOK's block {name!r} in {__file__}")
    SCENARIOS[name](request, Block(name, BLOCKS[name]))


# -- scenarios -------------------------------------------------------------------------------------


def _consuming(
    settings: Settings, tmp_path: Path, records: list[tuple[str, bytes, bytes]]
) -> Service:
    """Topics created, `records` (topic role, key, value) published, a `coach consume`
    running that has applied them all."""
    topics = {"exercises": settings.topic_exercises, "workouts": settings.topic_workouts}
    coach(settings, "topics", "create")
    produce_raw(settings, [(topics[role], key, value) for role, key, value in records])
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    try:
        wait_for(
            "every record", lambda: applied_records(settings) == len(records), service=consumer
        )
    except BaseException:
        consumer.stop()
        raise
    return consumer


def _an_hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def _catalog() -> list[tuple[str, bytes, bytes]]:
    return [("exercises", key_of(e), value_of(e)) for e in (upserted(i) for i in range(1, 9))]


@scenario("dead-letters")
def dead_letters_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """A broken record the real consumer dead-lettered (resolved: `$ID`), and a valid one an
    older coach had refused (the retry applies it): the list ends empty, the resolution is
    logged, the retried workout is in the projection."""
    settings: Settings = request.getfixturevalue("kafka_settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    consumer = _consuming(settings, tmp_path, [*_catalog(), ("workouts", b"7", b"{broken")])
    try:
        refused = completed("w-old", 8, _an_hour_ago(), [(3, 20.0, 5)])
        conn = connect(settings.db_path)
        with transaction(conn):  # as an older coach left it
            dead_letters.add_dead_letter(
                conn,
                topic=settings.topic_workouts,
                partition=0,
                offset=999,
                key=key_of(refused),
                value=value_of(refused),
                error="older coach: unknown field",
                failed_at_us=now_us(),
            )
        [broken] = [x for x in dead_letters.newest(conn) if x.value == b"{broken"]
        conn.close()
        result = block.run(settings, ID=str(broken.id), REASON="re-published (ticket 42)")
    finally:
        consumer.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].strip() == "0"  # the gate: the list is empty
    assert re.search(r"resolved by \S+ at \S+Z: re-published \(ticket 42\)", result.stderr)
    assert "applied 1, still failing 0" in result.stdout
    conn = connect(settings.db_path, readonly=True)
    assert reads.stats(conn)["workouts"] == 1 and dead_letters.count(conn) == 0
    conn.close()


@scenario("erasure-check")
def erasure_check_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """Before the erasure the check exits 1 (not erased); once the consumer has applied the
    monolith's `fitness.user.erased`, it exits 0 with nothing of the user left."""
    settings: Settings = request.getfixturevalue("kafka_settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    workouts = [completed(f"w{n}", "u-9", _an_hour_ago(), [(n, 20.0, 5)]) for n in range(1, 4)]
    records = [*_catalog(), *(("workouts", key_of(w), value_of(w)) for w in workouts)]
    consumer = _consuming(settings, tmp_path, records)
    try:
        before = block.run(settings, USER_ID="u-9")
        coach(settings, "publish", input=lines([user_erased("u-9")]))
        wait_for(
            "the erasure",
            # `coach publish` sends it to the erasures topic and to the workouts topic
            lambda: applied_records(settings) == len(records) + 2,
            service=consumer,
        )
        after = block.run(settings, USER_ID="u-9")
    finally:
        consumer.stop()
    assert before.returncode == 1, before
    assert json.loads(before.stdout)["erased"] is False
    assert after.returncode == 0, after.stderr
    shown = json.loads(after.stdout)
    assert shown["erased"] is True and shown["erased_at"] and shown["ok"] is True
    assert (shown["rows_at_or_before_erasure"], shown["dead_letters_naming"]) == (0, 0)


@scenario("broker-outage")
def broker_outage_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """On a broker of the test's own, stopped: /ready 200 "degraded", /lag says the broker
    is unreachable (its category, no address), the WOD a 200, with COACH_WOD_ONLY_WHEN_READY."""
    from tests.faults.helpers import Api

    kafka_settings: Settings = request.getfixturevalue("kafka_settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    broker, home, port, bootstrap = request.getfixturevalue("own_broker")
    settings = kafka_settings.model_copy(
        update={"kafka_bootstrap_servers": bootstrap, "wod_only_when_ready": True}
    )
    consumer = _consuming(settings, tmp_path, _catalog())
    api = None
    try:
        api = Api(settings, tmp_path / "api.log")
        wait_for("/ready", lambda: api.get("/ready").status_code == 200, timeout=30)
        broker.stop(home=home, quiet=True)
        wait_for(
            "the outage seen",
            lambda: api.json("/lag")["broker_reachable"] is False,
            timeout=30,
            service=consumer,
        )
        time.sleep(1)
        result = block.run(settings, COACH_URL=api.url)
    finally:
        if api is not None:
            api.stop()
        consumer.stop()
    assert result.returncode == 0, result.stderr
    ready, lag, wod = result.stdout.splitlines()
    assert json.loads(ready)["status"] == "degraded", ready
    assert json.loads(lag)["broker_reachable"] is False
    assert re.fullmatch(r"broker unreachable \(\w+\)", json.loads(lag)["last_error"]), lag
    assert str(port) not in lag and "127.0.0.1" not in lag
    assert wod == "200"


@scenario("replay")
def replay_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """With a live projection, its consumer and its api running: the dry run checks and
    swaps nothing; the replay checks (same tables and answers), swaps the rebuilt file in
    (the projection a link to it, a backup kept), both processes carry on with it, and
    WODs answer before and after."""
    from tests.faults.helpers import Api, tokens

    settings: Settings = request.getfixturevalue("kafka_settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    workouts = [completed(f"w{n}", f"u{n}", _an_hour_ago(), [(n, 20.0, 5)]) for n in range(1, 6)]
    records = [*_catalog(), *(("workouts", key_of(w), value_of(w)) for w in workouts)]
    consumer = _consuming(settings, tmp_path, records)
    api = None
    headers = {"Authorization": f"Bearer {tokens(1)[0]}"}
    try:
        api = Api(settings, tmp_path / "api.log")
        wod = lambda: httpx2.get(api.url + "/fitness/wod", headers=headers, timeout=5)  # noqa: E731
        wait_for("a WOD", lambda: wod().status_code == 200, timeout=30)
        before = files.live_file(settings.db_path)
        result = block.run(settings)
        wait_for("the consumer to switch", lambda: "swapped by a replay" in consumer.log())
        time.sleep(1.5)  # the api's caches live a second
        answer = wod()
    finally:
        if api is not None:
            api.stop()
        consumer.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    dry_run, swap = result.stdout.split("\nread ", 1)
    assert "check: same tables and same answers" in dry_run and "live: " not in dry_run
    assert "check: same tables and same answers" in swap, swap
    after = files.live_file(settings.db_path)
    assert settings.db_path.is_symlink() and after != before
    assert f"live: {settings.db_path} -> {after.name}" in swap
    assert Path(swap.split("backup: ")[1].split()[0]).exists()
    assert answer.status_code == 200 and answer.json()["exercises"], answer.text


def _snapshot_of(settings: Settings, tmp_path: Path, records: list[tuple[str, bytes, bytes]]):  # type: ignore[no-untyped-def]
    """A consumer that has applied `records`, and the snapshot directory."""
    consumer = _consuming(settings, tmp_path, records)
    (tmp_path / "snapshots").mkdir()
    return consumer, tmp_path / "snapshots"


def _one_more(settings: Settings) -> None:
    """A ninth exercise, published after the snapshot."""
    produce_raw(settings, [(settings.topic_exercises, key_of(upserted(9)), value_of(upserted(9)))])


@scenario("snapshot")
def snapshot_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """On a running replica: the snapshot is written (owner-only), names its size and the
    offsets it holds, and pauses nothing (the consumer applies a record published after)."""
    settings: Settings = request.getfixturevalue("kafka_settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    records = _catalog()
    consumer, directory = _snapshot_of(settings, tmp_path, records)
    try:
        result = block.run(settings, SNAPSHOT=str(directory / "coach-1.db"))
        produce_raw(
            settings, [(settings.topic_exercises, key_of(e), value_of(e)) for e in [upserted(9)]]
        )
        wait_for(
            "the record after",
            lambda: applied_records(settings) == len(records) + 1,
            service=consumer,
        )
    finally:
        consumer.stop()
    assert result.returncode == 0, result.stderr
    written = directory / "coach-1.db"
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    first, offsets = result.stdout.splitlines()[-2:]
    assert re.fullmatch(rf"snapshot {re.escape(str(written))}: [0-9.]+ MB, .*", first), first
    held = re.findall(rf"{re.escape(settings.topic_exercises)}/\d+@(\d+)", offsets)
    assert sum(map(int, held)) == len(records), offsets


@scenario("snapshot-new-replica")
def new_replica_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """A snapshot of a running replica copied to `$COPY`; the block, in a shell with only the
    broker and topic settings (no COACH_DB_PATH) and another current directory, starts a
    consumer and an api on the copy: it starts from the snapshot, reads on from its
    offsets (a record published after it arrives), answers /ready 200 and WODs, and
    nothing is created in the current directory."""
    from tests.faults.helpers import tokens

    settings: Settings = request.getfixturevalue("kafka_settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    records = _catalog()
    consumer, directory = _snapshot_of(settings, tmp_path, records)
    try:
        coach(settings, "snapshot", str(directory / "coach-1.db"))
    finally:
        consumer.stop()
    copy = tmp_path / "b" / "coach.db"
    copy.parent.mkdir()
    shutil.copyfile(directory / "coach-1.db", copy)
    _one_more(settings)
    port = free_port()
    env = {k: v for k, v in env_of(settings).items() if k != "COACH_DB_PATH"}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    log_path = tmp_path / "b.log"
    shell = block.start({**env, "COPY": str(copy), "PORT": str(port)}, log_path, cwd)
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {tokens(1)[0]}"}
    try:
        wait_for("/ready 200", lambda: httpx2.get(url + "/ready", timeout=5).status_code == 200)
        wod = httpx2.get(url + "/fitness/wod", headers=headers, timeout=5)
        conn = connect(copy, readonly=True)
        wait_for("the record after the snapshot", lambda: reads.stats(conn)["exercises"] == 9)
        conn.close()
    finally:
        stop_session(shell)
    out = log_path.read_text()
    assert out.count(f"projection file: {copy} (exists)") == 2, out
    assert "starting from a snapshot taken" in out, out
    assert list(cwd.iterdir()) == [], out
    assert wod.status_code == 200 and wod.json()["exercises"], wod.text


@scenario("percentage")
def percentage_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """From 0 %, the block moves 10 % of users to coach on the running nginx (rendered,
    checked, reloaded: some users now reach coach, most stay on the monolith) and shows the
    share in place."""
    settings: Settings = request.getfixturevalue("settings")
    with nginx_at(0) as nginx:
        assert sides_of(nginx) == {"legacy": USERS}
        result = block.run(settings, PERCENT="10", **nginx_variables(nginx))
        assert result.returncode == 0, result.stderr
        sides = until_routed(nginx, lambda c: c["coach"] > 0)
    assert "now goes to coach for 10 % of users (was 0 %)" in result.stdout, result.stdout
    assert result.stdout.splitlines()[-1] == "10", result.stdout
    assert 0.03 * USERS <= sides["coach"] <= 0.2 * USERS, sides
    assert sides["coach"] + sides["legacy"] == USERS, sides


@scenario("rollback")
def rollback_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """At 25 %, the RUNBOOK's one rollback command sends every user back to the monolith at
    the next request, and the file in place says 0."""
    settings: Settings = request.getfixturevalue("settings")
    with nginx_at(25) as nginx:
        assert sides_of(nginx)["coach"] > 0
        result = block.run(settings, **nginx_variables(nginx))
        assert result.returncode == 0, result.stderr
        until_routed(nginx, lambda c: c == {"legacy": USERS})
        shown = subprocess.run(
            ["deploy/nginx/set-percent.sh", "--show", str(nginx.conf)],
            cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
    assert "now goes to coach for 0 % of users (was 25 %)" in result.stdout, result.stdout
    assert shown.stdout.strip() == "0"


@scenario("canary-start")
def canary_start_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """The real run moves nginx to the first step (1 %) at once and holds it: its state and
    decision log say so, its metrics port serves coach_rollout_percent 1, and some users now
    reach the real coach through nginx."""
    settings: Settings = request.getfixturevalue("kafka_settings")
    assert BLOCKS["canary-start"] == block.text
    with canary_started(request, settings, BLOCKS["canary-start"]) as rollout:
        metrics = httpx2.get(f"http://127.0.0.1:{rollout.variables['METRICS_PORT']}/metrics")
        state = rollout.state()
        running = rollout.controller.poll() is None
    assert running, rollout.log.read_text()
    assert state["status"] in ("running", "holding") and state["percent"] == 1, state
    assert "coach_rollout_percent 1.0" in metrics.text, metrics.text
    assert "advance" in rollout.decisions()


@scenario("canary-control")
def canary_control_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """With the real run at 1 %: status prints the state (a real rollout, nginx at 1 %),
    pause and resume are taken by the controller, abort returns nginx to 0 % and the
    controller exits 4."""
    settings: Settings = request.getfixturevalue("kafka_settings")
    with canary_started(request, settings, BLOCKS["canary-start"]) as rollout:
        result = block.run(settings, **rollout.variables)
        code = rollout.controller.wait(30)
        percent = rollout.nginx_percent()
    assert result.returncode == 0, result.stdout + result.stderr
    assert code == 4, rollout.log.read_text()
    assert percent == 0 and rollout.state()["status"] == "aborted"
    status = json.loads(result.stdout[: result.stdout.index("\n}") + 2])
    assert status["nginx_percent"] == 1 and status["dry_run"] is False, status
    decided = rollout.decisions()
    assert decided.index("pause") < decided.index("resume") < decided.index("abort"), decided


def test_the_glance_table_names_every_tested_block_and_real_sections():
    """ "Procedures at a glance": each marker named in it exists and every marker is named
    there; each of its links is a heading of the RUNBOOK."""
    from tests.integration.test_alerting import _runbook_anchors

    text = RUNBOOK.read_text()
    after = text[text.index("## Procedures at a glance") :].split("| Task |", 1)[1]
    rows = after.split("\n\n", 1)[0].splitlines()[2:]
    glance = "\n".join(rows)
    named = {n for row in rows for n in re.findall(r"`([a-z0-9-]+)`", row.split("|")[-2])}
    assert named == set(BLOCKS), sorted(named ^ set(BLOCKS))
    links = re.findall(r"\]\(#([^)]+)\)", glance)
    assert links and set(links) <= _runbook_anchors(), set(links) - _runbook_anchors()
