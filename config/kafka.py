"""Kafka client options from the settings (security settings pass through)."""

from __future__ import annotations

import ssl
from typing import Any

from config.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by every aiokafka client coach creates."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    return options


FETCH_MAX_WAIT_MS = 20
"""How long the broker may hold a fetch that found nothing (aiokafka's default: 500 ms).
aiokafka sends one fetch at a time to a broker, and leaves out of it the partitions whose
records it still holds: while the records of the busy partitions are applied, the fetch in
flight asks only for the quiet ones (the catalog, the erasures) and the broker holds it for
this long; a record arriving meanwhile on a busy partition waits for it. At 500 ms that
was the publish-to-WOD tail (bench/freshness.py, docs/BENCHMARKS.md); 20 ms costs an idle
consumer 50 empty fetches a second."""


def consumer_options(settings: Settings, client_id: str, **extra: Any) -> dict[str, Any]:
    """Keyword arguments of the consumers (live and replay): every partition assigned by
    hand, positions kept in the projection, committed transactions only."""
    return {
        **client_options(settings),
        "client_id": client_id,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "none",
        "isolation_level": "read_committed",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
        **extra,
    }
