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
        **extra,
    }
