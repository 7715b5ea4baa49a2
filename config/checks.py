"""Checks of single setting values, pure (config/settings.py's validators call them): the
token algorithms (one family), a real secret, a claim to check, proxy addresses, a time zone,
the event loop.
Each raises ValueError with a message that never quotes a secret; pydantic adds the name of
the setting."""

from __future__ import annotations

import importlib.util
import ipaddress
import zoneinfo

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"})
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "secret",
        "password",
        "dev",
        # docker-compose.yml's default until it required one: public, so anyone can sign with it.
        "development-only-jwt-secret-of-the-compose-stack",
    }
)
MIN_SECRET_LENGTH = 32


def one_family(algorithms: list[str]) -> list[str]:
    """Known algorithms, at least one, and not HMAC and public-key ones mixed."""
    unknown = set(algorithms) - HMAC_ALGORITHMS - PUBLIC_KEY_ALGORITHMS
    if unknown:
        raise ValueError(f"unsupported algorithm(s) {sorted(unknown)}")
    if not algorithms:
        raise ValueError("at least one algorithm is needed")
    if set(algorithms) & HMAC_ALGORITHMS and set(algorithms) & PUBLIC_KEY_ALGORITHMS:
        raise ValueError("HMAC and public-key algorithms must not be mixed")
    return algorithms


def real_secret(secret: str) -> str:
    """Not a placeholder, and long enough."""
    if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"must be a real secret of at least {MIN_SECRET_LENGTH} characters, not a "
            "placeholder: e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return secret


def addresses(value: str) -> str:
    """Comma-separated IP addresses or CIDR networks, or `*`; normalised (no blanks)."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                "must be comma-separated IP addresses or CIDR networks, or *"
            ) from None
    return ",".join(items)


def known_zone(value: str) -> str:
    """An IANA time zone."""
    if value != "UTC" and value not in zoneinfo.available_timezones():
        raise ValueError(f"{value!r} is not an IANA time zone")
    return value


def loop_installed(value: str) -> str:
    """uvloop only where it is installed."""
    if value == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ValueError("uvloop is not installed here: use asyncio (or auto)")
    return value


def claim_not_empty(value: str) -> str:
    """A claim to require (`iss`, `aud`) is not blank: no token would match it."""
    if not value.strip():
        raise ValueError("is empty, and no token would match it: unset it not to check the claim")
    return value
