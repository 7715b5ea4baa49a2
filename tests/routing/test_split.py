"""Which users nginx sends to coach: the share, the stickiness, the ends of the range."""

from __future__ import annotations

import pytest

from tests.routing.conftest import Backend, call
from tests.routing.split import bucket, side


def tokens(n: int, prefix: str = "user") -> list[str]:
    return [f"{prefix}-{i}.token" for i in range(n)]


def test_coach_gets_its_percentage_of_users(start_nginx, coach: Backend, legacy: Backend):
    """With COACH_PERCENT=30, 2,000 distinct tokens: coach gets 30 % of them, +-5 %."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=30)
    sides = [call(nginx.port, token=t).served_by for t in tokens(2000)]
    assert set(sides) == {"coach", "legacy"}
    share = sides.count("coach") / len(sides)
    assert 0.25 <= share <= 0.35, f"coach got {share:.1%} of users"
    assert coach.count() + legacy.count() == 2000


def test_each_token_lands_where_the_hash_says(start_nginx, coach: Backend, legacy: Backend):
    """Every token goes to the side that MurmurHash2 of the salted header gives (pins the salt:
    changing it would reshuffle users)."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=30)
    for token in tokens(300, "pinned"):
        assert call(nginx.port, token=token).served_by == side(f"Bearer {token}", 30), token


def test_a_token_always_lands_on_the_same_side(start_nginx, coach: Backend, legacy: Backend):
    """The same token sent 20 times reaches the same side every time, on both sides."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=50)
    seen_sides = set()
    for token in tokens(10, "sticky"):
        sides = {call(nginx.port, token=token).served_by for _ in range(20)}
        assert len(sides) == 1, f"{token} went to {sides}"
        seen_sides |= sides
    assert seen_sides == {"coach", "legacy"}


def test_raising_the_percentage_only_moves_users_to_coach(
    start_nginx, coach: Backend, legacy: Backend
):
    """Users on coach at 10 % are still on coach at 60 %: moving up never sends one back."""
    low = start_nginx(coach=coach.address, legacy=legacy.address, percent=10)
    high = start_nginx(coach=coach.address, legacy=legacy.address, percent=60)
    users = tokens(400, "moving")
    at_10 = {t for t in users if call(low.port, token=t).served_by == "coach"}
    at_60 = {t for t in users if call(high.port, token=t).served_by == "coach"}
    assert at_10 and at_10 < at_60


@pytest.mark.parametrize(("percent", "everyone_to"), [(0, "legacy"), (100, "coach")])
def test_the_ends_send_everyone_to_one_side(
    start_nginx, coach: Backend, legacy: Backend, percent: int, everyone_to: str
):
    """COACH_PERCENT=0 sends every user to the monolith; 100 sends every user to coach."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=percent)
    sides = {call(nginx.port, token=t).served_by for t in tokens(300, f"end{percent}")}
    assert sides == {everyone_to}
    other = legacy if everyone_to == "coach" else coach
    assert other.count() == 0


@pytest.mark.parametrize(("percent", "goes_to"), [(99, "legacy"), (100, "coach")])
def test_requests_without_a_token_stay_on_the_monolith_until_100(
    start_nginx, coach: Backend, legacy: Backend, percent: int, goes_to: str
):
    """No Authorization header hashes an empty key into the last bucket: the monolith answers
    it up to 99 %, coach at 100 % (either answers 401)."""
    assert bucket("") == 99
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=percent)
    assert call(nginx.port).served_by == goes_to


# How clients spell one bearer token: RFC 6750's scheme is case-insensitive, and the spaces
# around the token are not part of it. Each must land where "Bearer <token>" lands.
SPELLINGS = ["bearer {}", "BEARER {}", "BeArEr {}", "Bearer  {}", "Bearer\t{}", "Bearer {} "]


def test_respelling_the_scheme_or_the_spaces_never_moves_a_user(
    start_nginx, coach: Backend, legacy: Backend
):
    """At 50 %, 40 users each sent with six spellings of "Bearer <token>": every spelling of a
    user's token reaches the side the canonical spelling reaches (users on both sides)."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=50)
    moved = {}
    canonical_sides = set()
    for token in tokens(40, "spelled"):
        canonical = call(nginx.port, token=token).served_by
        canonical_sides.add(canonical)
        others = {s: call(nginx.port, authorization=s.format(token)).served_by for s in SPELLINGS}
        wrong = [s for s, where in others.items() if where != canonical]
        if wrong:
            moved[token] = wrong
    assert canonical_sides == {"coach", "legacy"}
    assert not moved, f"{len(moved)} of 40 users moved by a spelling: {moved}"


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer two words", "Token abc", "bearer"]
)
def test_a_header_that_is_not_a_bearer_token_lands_where_its_hash_says(
    start_nginx, coach: Backend, legacy: Backend, header: str
):
    """A header that is not one bearer token is hashed as it came: the same side every time."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=50)
    sides = {call(nginx.port, authorization=header).served_by for _ in range(5)}
    assert sides == {side(header, 50)}
