"""Whether this api should get traffic: the conditions of GET /ready. Pure."""

from __future__ import annotations

from typing import NamedTuple

from api.lag import heartbeat_age_seconds, total_lag
from store.status import Snapshot


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str


def readiness_checks(
    *,
    snapshot: Snapshot,
    catalog_size: int,
    now_us: int,
    max_lag: int,
    max_heartbeat_age_seconds: float,
) -> list[Check]:
    """`catalog` (at least one exercise), `heartbeat` (recent), `lag` (known and small)."""
    checks = [
        Check(
            "catalog",
            catalog_size > 0,
            f"{catalog_size} exercises" if catalog_size else "the catalog has not arrived yet",
        )
    ]
    age = heartbeat_age_seconds(now_us, snapshot.consumer)
    if age is None:
        checks.append(Check("heartbeat", False, "the consumer has never recorded a heartbeat"))
    else:
        checks.append(
            Check(
                "heartbeat",
                age <= max_heartbeat_age_seconds,
                f"last heartbeat {age:.1f} s ago (at most {max_heartbeat_age_seconds:g} s)",
            )
        )
    lag = total_lag(snapshot.partitions)
    if lag is None:
        checks.append(
            Check("lag", False, "unknown: the consumer has not recorded every high watermark")
        )
    else:
        checks.append(Check("lag", lag <= max_lag, f"{lag} records behind (at most {max_lag})"))
    return checks
