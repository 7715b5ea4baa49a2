"""The seed load profile's pure decisions (deploy/loadtest/seed_plan.py): users and their
zones, the login's answer, when to log in again, the workout logged from a WOD, and what is a
failure for a user and for a hostile client."""

from __future__ import annotations

import random

import pytest

from deploy.loadtest import seed_plan


def wod(*ids: int) -> dict[str, object]:
    return {
        "exercises": [
            {"id": i, "name": f"E{i}", "suggested_weight": 10.0 * i, "suggested_reps": i}
            for i in ids
        ],
        "generated_at": "2026-12-07T00:00:00Z",
    }


def test_user_ids_cycle_over_the_users_from_the_first():
    """Users 0..n map onto `users` ids from `first`, then start over."""
    ids = [seed_plan.user_id(n, users=3, first=10) for n in range(7)]
    assert ids == ["10", "11", "12", "10", "11", "12", "10"]
    with pytest.raises(ValueError):
        seed_plan.user_id(0, users=0)


def test_a_users_zone_is_stable_and_spread_over_the_zones():
    """The same user has the same zone in every run; 600 users meet every zone."""
    assert seed_plan.zone_of("42") == seed_plan.zone_of("42")
    zones = {seed_plan.zone_of(str(n)) for n in range(600)}
    assert zones == set(seed_plan.ZONES)
    assert seed_plan.login_body("42") == {"sub": "42", "zoneinfo": seed_plan.zone_of("42")}


def test_the_login_answer_gives_the_token_and_its_expiry_else_an_error():
    """`token_of` reads access_token and expires_in; anything else is a ValueError."""
    answer = {"access_token": "t", "token_type": "Bearer", "expires_in": 300}
    assert seed_plan.token_of(answer, 1000.0) == ("t", 1300.0)
    bad_answers = [
        None,
        [],
        {"access_token": ""},
        {"access_token": "t"},
        {"access_token": "t", "expires_in": 0},
        {"access_token": 3, "expires_in": 9},
    ]
    for bad in bad_answers:
        with pytest.raises(ValueError):
            seed_plan.token_of(bad, 0.0)


def test_a_user_logs_in_first_and_again_shortly_before_the_token_expires():
    margin = seed_plan.RELOGIN_MARGIN_SECONDS
    assert seed_plan.needs_login(None, 0.0)
    assert not seed_plan.needs_login(1000.0, 1000.0 - margin - 1)
    assert seed_plan.needs_login(1000.0, 1000.0 - margin)


def test_the_logged_workout_holds_one_to_three_of_the_wods_exercises_as_suggested():
    """Each logged exercise is one of the WOD's, at its suggested weight and reps, none
    twice; a WOD without exercises logs nothing."""
    rng = random.Random(1)
    sizes = set()
    for _ in range(200):
        body = seed_plan.workout_from(wod(1, 2, 3, 4, 5, 6), "7", rng)
        assert body is not None and body["user_id"] == "7"
        ids = [e["exercise_id"] for e in body["exercises"]]
        assert len(set(ids)) == len(ids) and set(ids) <= {1, 2, 3, 4, 5, 6}
        for e in body["exercises"]:
            assert (e["weight"], e["reps"]) == (10.0 * e["exercise_id"], e["exercise_id"])
            assert 2 <= e["sets"] <= 5
        sizes.add(len(ids))
    assert sizes == {1, 2, 3}
    assert seed_plan.workout_from(wod(), "7", rng) is None
    assert seed_plan.workout_from(None, "7", rng) is None
    assert len(seed_plan.workout_from(wod(9), "7", rng)["exercises"]) == 1  # type: ignore[index]


def test_a_wod_answer_fails_unless_a_200_with_exercises():
    assert seed_plan.wod_failure(200, wod(1)) is None
    assert seed_plan.wod_failure(200, wod()) is None  # an empty catalog is a WOD
    assert seed_plan.wod_failure(401, {"detail": "x"}) == "status 401"
    assert seed_plan.wod_failure(502, None) == "status 502"
    assert seed_plan.wod_failure(200, {"detail": "x"}) == "a 200 without a WOD"
    assert seed_plan.wod_failure(200, None) == "a 200 without a WOD"


def test_a_hostile_request_must_be_refused_never_a_5xx_no_answer_or_a_wod():
    assert seed_plan.hostile_failure(401, b'{"detail":"invalid token"}') is None
    assert seed_plan.hostile_failure(400, b"<html>") is None
    assert seed_plan.hostile_failure(308, b"") is None
    assert seed_plan.hostile_failure(200, b"") is None  # OPTIONS: no WOD
    assert seed_plan.hostile_failure(0, b"") == "no answer"
    assert seed_plan.hostile_failure(500, b"") == "a 500"
    assert seed_plan.hostile_failure(502, b"<html>") == "a 502"
    served = b'{"exercises":[],"generated_at":"x"}'
    assert seed_plan.hostile_failure(200, served) == "a WOD served to a hostile request"


def test_the_hostile_share_is_a_percentage_turned_into_weights():
    assert seed_plan.weights(5) == (950, 50)
    assert seed_plan.weights(0) == (1000, 0)
    assert seed_plan.weights(0.5) == (995, 5)
    for bad in (-1, 101):
        with pytest.raises(ValueError):
            seed_plan.weights(bad)


def test_every_zone_of_the_profile_is_one_coach_accepts():
    from api.zones import is_known_zone

    assert all(is_known_zone(z) for z in seed_plan.ZONES)
