"""Whether this api should get traffic: the conditions of GET /ready. Pure."""

from __future__ import annotations

from typing import NamedTuple

from api.lag import (
    age_seconds,
    age_when_lost_seconds,
    complete_until_us,
    heartbeat_age_seconds,
    total_lag,
)
from store.status import Snapshot

MIN_FREE_BYTES = 1024 * 1024
"""Below this much free space on the projection's file system, the consumer cannot write."""


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str
    degraded: bool = False
    """Holds, but only just: reported (status "degraded"), never a reason to refuse traffic."""


def readiness_checks(
    *,
    snapshot: Snapshot,
    catalog_size: int,
    now_us: int,
    max_lag: int,
    max_heartbeat_age_seconds: float,
    max_data_age_seconds: float,
    free_bytes: int | None,
) -> list[Check]:
    """`catalog` (at least one exercise), `heartbeat` (recent), `lag` (known and small),
    `data_age` (the projection holds every event published until recently: it fails while
    the consumer cannot write or is behind), `storage` (the projection's file system is not
    full; `free_bytes` None: unknown, not failing).

    A broker outage never fails a check: every replica reads the same broker, so refusing
    traffic would move it nowhere better (and after the migration there is no monolith
    behind coach). While the consumer, beating, reports the broker unreachable and the data
    was fresh (within the limit) when it first found it so, `data_age` is `degraded`
    instead (it holds, whatever the age), and the WOD keeps answering from the projection;
    the age shows how long ago the broker was last reached. Data already stale when the
    broker was lost (a replica behind, or started after days off) fails as ever.

    A failing `heartbeat` or `data_age` says what the consumer last reported, if anything."""
    why = snapshot.consumer.last_error
    because = f"; the consumer reports: {why}" if why else ""
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
                f"last heartbeat {age:.1f} s ago (at most {max_heartbeat_age_seconds:g} s)"
                + ("" if age <= max_heartbeat_age_seconds else because),
            )
        )
    lag = total_lag(snapshot.partitions)
    if lag is None:
        checks.append(
            Check("lag", False, "unknown: the consumer has not recorded every high watermark")
        )
    else:
        checks.append(Check("lag", lag <= max_lag, f"{lag} records behind (at most {max_lag})"))
    data_age = age_seconds(now_us, complete_until_us(snapshot.partitions, snapshot.consumer))
    beating = age is not None and age <= max_heartbeat_age_seconds
    when_lost = age_when_lost_seconds(snapshot.partitions, snapshot.consumer)
    outage = beating and not snapshot.consumer.broker_reachable
    if data_age is None:
        checks.append(Check("data_age", False, "unknown: the consumer has not recorded its lag"))
    elif outage and when_lost is not None and when_lost <= max_data_age_seconds:
        checks.append(
            Check(
                "data_age",
                True,
                f"holds every event published until {data_age} s ago, when the broker was "
                f"last reached (at most {max_data_age_seconds:g} s while it is reachable); "
                "degraded: the WOD answers from the projection while the broker is away" + because,
                degraded=True,
            )
        )
    else:
        fresh = data_age <= max_data_age_seconds
        before = (
            f"; the data was already {when_lost} s old when the broker was lost"
            if outage and when_lost is not None and not fresh
            else ""
        )
        checks.append(
            Check(
                "data_age",
                fresh,
                f"holds every event published until {data_age} s ago "
                f"(at most {max_data_age_seconds:g} s)" + ("" if fresh else before + because),
            )
        )
    if free_bytes is None:
        checks.append(Check("storage", True, "free space unknown"))
    else:
        checks.append(
            Check(
                "storage",
                free_bytes >= MIN_FREE_BYTES,
                f"{free_bytes // 1024} KiB free on the projection's file system"
                + ("" if free_bytes >= MIN_FREE_BYTES else ": full, the consumer cannot write"),
            )
        )
    return checks


def key_set_check(age_seconds: float, last_error: str | None) -> Check:
    """`signing_keys`: how old the issuer's key set is, and why the last refresh failed.
    Informative, never failing: while the issuer is down the keys held still verify."""
    detail = f"key set fetched {age_seconds:.0f} s ago"
    if last_error:
        detail += f"; the last refresh failed: {last_error}"
    return Check("signing_keys", True, detail)
