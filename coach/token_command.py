"""`coach token`: a development token signed with the configured secret (COACH_JWT_SECRET).
coach/cli.py adds it to the `coach` group."""

from __future__ import annotations

import time
from typing import Any

import click

from coach.command_support import load_or_exit


@click.command()
@click.option("--sub", required=True, help="The user id (the token's subject).")
@click.option("--zoneinfo", default=None, help="IANA time zone claim, e.g. Europe/Berlin.")
@click.option(
    "--ttl",
    default=3600,
    show_default=True,
    type=click.IntRange(1, 30 * 86400),
    help="Seconds until the token expires.",
)
def token(sub: str, zoneinfo: str | None, ttl: int) -> None:
    """Print a development token signed with COACH_JWT_SECRET."""
    import jwt

    from api.zones import is_known_zone

    settings = load_or_exit()
    if settings.jwt_secret is None:
        raise click.ClickException("COACH_JWT_SECRET is not set: it signs development tokens")
    if zoneinfo is not None and not is_known_zone(zoneinfo):
        raise click.ClickException(f"--zoneinfo: {zoneinfo!r} is not an IANA time zone")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + ttl}
    if zoneinfo:
        claims["zoneinfo"] = zoneinfo
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    click.echo(
        jwt.encode(
            claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithms[0]
        )
    )
