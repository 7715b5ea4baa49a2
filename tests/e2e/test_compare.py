"""`coach rollout compare` against a real coach fed through the real broker and the legacy
stand-in drawing from the same events file: pass; fail when a side breaks an invariant or
draws from another catalog; inconclusive with too few users."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.coach_stack import Stack, legacy_stand_in, running_stack
from tests.e2e.helpers import coach

pytestmark = pytest.mark.broker
_stack = pytest.fixture(scope="module", name="stack")(running_stack)


def compare(
    stack: Stack, coach_url: str, monolith_url: str, *args: str, events: Path | None = None
):  # type: ignore[no-untyped-def]
    result = coach(
        stack.settings,
        "rollout", "compare", "--coach", coach_url, "--monolith", monolith_url,
        "--events", str(events or stack.events), *args,
        check=False,
    )  # fmt: skip
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def test_coach_and_the_monolith_on_the_same_catalog_pass(stack: Stack):
    """150 users a group: no answer of either side breaks an invariant (yesterday known for
    the 120 demo users), and coach's exercise distribution is within the monolith's noise."""
    with legacy_stand_in(stack.events) as monolith:
        code, out, err = compare(stack, stack.url, monolith, "--users", "150", "--json")
    report = json.loads(out)
    assert (code, report["verdict"]) == (0, "pass"), (out, err)
    assert report["broken"] == {"coach": 0, "monolith": 0}
    d = report["distances"]
    assert d["candidate"] <= d["threshold"] and d["expected_per_exercise"] >= 5


def _renamed(events: Path, into: Path) -> Path:
    """The same events with every exercise renamed: another catalog with the same ids."""
    into.write_text(
        re.sub(
            r'"name":"([^"]*)","description"',
            r'"name":"Other \1","description"',
            events.read_text(),
        )
    )
    return into


def _half_catalog(events: Path, into: Path) -> Path:
    """The same events without the exercises above id 24: a narrower catalog."""
    lines = []
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "fitness.exercise.upserted" and event["data"]["id"] > 24:
            continue
        lines.append(line)
    into.write_text("\n".join(lines) + "\n")
    return into


@pytest.mark.parametrize("breaking", ["renamed catalog", "seven exercises"])
def test_a_monolith_that_breaks_an_invariant_fails(
    stack: Stack,
    tmp_path: Path,
    breaking: str,
):
    """A stand-in with another catalog (same ids, other names) or one exercise too many: every
    one of its answers breaks an invariant, and the gate fails saying so."""
    if breaking == "renamed catalog":
        stand_in = legacy_stand_in(_renamed(stack.events, tmp_path / "renamed.jsonl"))
    else:
        stand_in = legacy_stand_in(stack.events, LEGACY_WOD_SIZE="7")
    with stand_in as monolith:
        code, out, err = compare(stack, stack.url, monolith, "--users", "60", "--json")
    report = json.loads(out)
    assert (code, report["verdict"]) == (1, "fail"), (out, err)
    assert report["broken"] == {"coach": 0, "monolith": 120}
    assert "120 monolith answers break an invariant" in report["reasons"]


def test_a_coach_side_that_breaks_an_invariant_fails(stack: Stack):
    """The same gate, with a stand-in that draws 5 exercises in coach's place: the coach
    side's answers are checked as strictly (the size), and the gate fails."""
    with (
        legacy_stand_in(stack.events) as monolith,
        legacy_stand_in(stack.events, LEGACY_WOD_SIZE="5") as wrong,
    ):
        code, out, _err = compare(stack, wrong, monolith, "--users", "60", "--json")
    report = json.loads(out)
    assert (code, report["verdict"], report["broken"]) == (1, "fail", {"coach": 60, "monolith": 0})
    assert "5 exercises, not 6" in report["examples"]["coach"][0]


def test_a_monolith_drawing_from_part_of_the_catalog_fails_on_the_distribution(
    stack: Stack,
    tmp_path: Path,
):
    """A stand-in that draws from the first 24 of the 48 exercises breaks no invariant (each
    is a catalog exercise), but its distribution is far from coach's: fail, with the figures."""
    half = _half_catalog(stack.events, tmp_path / "half.jsonl")
    with legacy_stand_in(half) as monolith:
        code, out, err = compare(stack, stack.url, monolith, "--users", "150", "--json")
    report = json.loads(out)
    assert (code, report["verdict"]) == (1, "fail"), (out, err)
    assert report["broken"] == {"coach": 0, "monolith": 0}
    assert report["distances"]["candidate"] > report["distances"]["threshold"]
    assert "distributed unlike" in report["reasons"][-1]


def test_too_few_users_is_inconclusive(stack: Stack):
    """5 users a group cannot say anything of 48 exercises: exit 3, and the text report says
    why, with the figures."""
    with legacy_stand_in(stack.events) as monolith:
        code, out, err = compare(stack, stack.url, monolith, "--users", "5")
    assert code == 3, (out, err)
    assert "verdict: inconclusive" in out
    assert "coach: 0 answers break an invariant" in out
    assert "picks per catalog exercise" in out and "ask more users" in out
