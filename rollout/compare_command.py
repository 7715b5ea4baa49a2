"""`coach rollout compare`: the comparison gate over HTTP. The rules are in
rollout/compare.py; this only mints the tokens, asks both sides and prints the report.
What it needs is imported when it runs, so that `coach --help` stays quick."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

if TYPE_CHECKING:
    from config.settings import Settings
    from rollout.compare import Report
    from rollout.invariants import Answer

EXIT = {"pass": 0, "fail": 1, "inconclusive": 3}  # nosec B105


def mint(settings: Settings, user_id: str, zone: str, ttl: int = 600) -> str:
    """A token for `user_id` signed with COACH_JWT_SECRET, as `coach token` makes one."""
    import jwt

    if settings.jwt_secret is None:
        raise click.ClickException("COACH_JWT_SECRET is not set: the gate signs its tokens")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl, "zoneinfo": zone}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    secret = settings.jwt_secret.get_secret_value()
    return jwt.encode(claims, secret, algorithm=settings.jwt_algorithms[0])


def access_token_of(answer: bytes) -> str:
    """The `access_token` of a token endpoint's JSON answer (raises ClickException if none)."""
    import orjson

    try:
        body = orjson.loads(answer)
    except orjson.JSONDecodeError:
        body = None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise click.ClickException(f"the token endpoint answered no access_token: {answer[:200]!r}")
    return token


def issue(token_url: str, user_id: str, zone: str, timeout: float) -> str:
    """A token for `user_id` from the issuer: POST {sub, zoneinfo} to `token_url` (the stand-in
    monolith's `POST /oauth/token`), so both sides verify a token as real clients hold it."""
    import urllib.error
    import urllib.request

    import orjson

    from rollout.http import open_http

    request = urllib.request.Request(
        token_url,
        data=orjson.dumps({"sub": user_id, "zoneinfo": zone}),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with open_http(request, timeout=timeout) as response:
            return access_token_of(response.read())
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"{token_url} answered {exc.code} for user {user_id}") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{token_url}: {exc}") from None


def fetch(base: str, token: str, timeout: float) -> Answer:
    """GET /fitness/wod of `base` with the token; a failure to answer is status 0."""
    import urllib.error
    import urllib.request

    from rollout.http import open_http
    from rollout.invariants import Answer

    request = urllib.request.Request(
        base.rstrip("/") + "/fitness/wod", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with open_http(request, timeout=timeout) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())
    except (OSError, ValueError) as exc:
        return Answer(0, str(exc).encode())


@click.command()
@click.option(
    "--coach", "coach_url", required=True, help="coach's base URL, e.g. http://10.0.0.11:8000"
)
@click.option("--monolith", "monolith_url", required=True, help="The monolith's base URL.")
@click.option(
    "--events",
    "events_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON lines of CloudEvents with the catalog (and the workouts, for yesterday).",
)
@click.option(
    "--users",
    default=200,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Users per group: coach and the monolith answer A; the monolith answers B too.",
)
@click.option(
    "--first-user",
    default=1,
    show_default=True,
    type=int,
    help="User ids asked: this one and the next 2 x USERS - 1 (A and B interleaved).",
)
@click.option(
    "--tz",
    "zone",
    default="UTC",
    show_default=True,
    help="The zone in each token's zoneinfo claim: both sides' yesterday.",
)
@click.option(
    "--size",
    default=None,
    type=click.IntRange(1, 100),
    help="Exercises per WOD [default: COACH_WOD_SIZE].",
)
@click.option(
    "--alpha",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0.0001, 0.5),
    help="How often two samples of the monolith itself would fail the test.",
)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--timeout", default=10.0, show_default=True, type=float, help="Seconds per request.")
@click.option(
    "--token-url",
    default=None,
    help="The issuer's token endpoint (POST {sub, zoneinfo}, e.g. the monolith's "
    "http://HOST/oauth/token): each user's token from it [default: signed with "
    "COACH_JWT_SECRET].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def compare(
    coach_url: str,
    monolith_url: str,
    events_path: Path,
    users: int,
    first_user: int,
    zone: str,
    size: int | None,
    alpha: float,
    concurrency: int,
    timeout: float,
    token_url: str | None,
    as_json: bool,
) -> None:
    """Compare coach's WODs with the monolith's for the same users: invariants on both sides,
    and the distribution of chosen exercises against the monolith's own noise.

    Exit status: 0 pass; 1 fail; 3 inconclusive (too few users for the catalog).
    """
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    import orjson

    from config.settings import ConfigError, load_settings
    from rollout.compare import Asked, judge
    from rollout.known import EventsFileError, read_known

    try:
        ZoneInfo(zone)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise click.BadParameter(f"{zone!r} is not an IANA time zone", param_hint="--tz") from None
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with events_path.open("rb") as lines:
            known = read_known(lines)
    except EventsFileError as exc:
        raise click.ClickException(f"{events_path}: {exc}") from None
    now = datetime.now(UTC)
    ids = [str(first_user + i) for i in range(2 * users)]

    def ask(index_user: tuple[int, str]) -> Asked:
        index, user = index_user
        token = issue(token_url, user, zone, timeout) if token_url else mint(settings, user, zone)
        group: Literal["A", "B"] = "A" if index % 2 == 0 else "B"
        return Asked(
            user_id=user,
            group=group,
            done_yesterday=known.done_yesterday(user, now, zone),
            monolith=fetch(monolith_url, token, timeout),
            coach=fetch(coach_url, token, timeout) if group == "A" else None,
        )

    with ThreadPoolExecutor(concurrency) as pool:
        asked = list(pool.map(ask, enumerate(ids)))
    report = judge(asked, catalog=known.catalog, size=size or settings.wod_size, alpha=alpha)
    if as_json:
        click.echo(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        _print(report, len(known.catalog))
    sys.exit(EXIT[report.verdict])


def _print(report: Report, catalog_size: int) -> None:
    click.echo(
        f"users: {report.users['A']} in A (coach and monolith), {report.users['B']} in B "
        f"(monolith); catalog: {catalog_size} exercises"
    )
    for side, n in report.broken.items():
        click.echo(f"{side}: {n} answers break an invariant")
        for example in report.examples[side]:
            click.echo(f"  {example}")
    d = report.distances
    if d is not None:
        click.echo(
            f"exercise distribution (TVD): coach vs monolith {d.candidate:.4f}; monolith vs "
            f"monolith {d.floor:.4f} (noise median {d.null_median:.4f}, limit "
            f"{d.threshold:.4f}); {d.expected_per_exercise:.1f} picks per exercise"
        )
    for reason in report.reasons:
        click.echo(f"- {reason}")
    click.echo(f"verdict: {report.verdict}")
