"""Settings: a bad value stops start-up with a message naming the environment variable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.settings import ConfigError, load_settings

GOOD_SECRET = "s" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("COACH_"):
            monkeypatch.delenv(name)


def test_defaults_load():
    settings = load_settings()
    assert settings.wod_size == 6 and settings.default_tz == "UTC"
    assert settings.topic_exercises == "fitness.exercises"


def test_operations_defaults():
    """/ready's limits, the status reuse on the WOD path, the token cache; no bench route."""
    settings = load_settings()
    assert settings.ready_max_lag == 1000
    assert settings.ready_max_heartbeat_age_seconds == 30
    assert settings.status_cache_seconds == 0.02
    assert settings.jwt_cache_size == 10_000
    assert settings.bench_ceiling is False


@pytest.mark.parametrize(
    "name,value",
    [
        ("COACH_WOD_SIZE", "0"),
        ("COACH_WOD_SIZE", "six"),
        ("COACH_DEFAULT_TZ", "Mars/Olympus"),
        ("COACH_DEFAULT_TZ", "../../etc/passwd"),
        ("COACH_JWT_SECRET", "changeme"),
        ("COACH_JWT_SECRET", "short"),
        ("COACH_JWT_ALGORITHMS", "none"),
        ("COACH_HISTORY_HOURS", "24"),
        ("COACH_HISTORY_HOURS", "49"),
        ("COACH_JWT_SECRET", "development-only-jwt-secret-of-the-compose-stack"),
        ("COACH_JWT_SECRET", "x" * 31),
        ("COACH_JWT_ISSUER", ""),
        ("COACH_JWT_AUDIENCE", ""),
        ("COACH_JWT_AUDIENCE", "  "),
        ("COACH_KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("COACH_JWT_CACHE_SIZE", "-1"),
        ("COACH_READY_MAX_LAG", "-1"),
        ("COACH_READY_MAX_HEARTBEAT_AGE_SECONDS", "0"),
        ("COACH_STATUS_CACHE_SECONDS", "-1"),
        ("COACH_BENCH_CEILING", "perhaps"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_mixed_algorithm_families_are_refused(monkeypatch):
    """HMAC and public-key algorithms in one list are refused (algorithm confusion)."""
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "HS256,RS256")
    with pytest.raises(ConfigError, match="must not be mixed"):
        load_settings()


def test_algorithms_are_comma_separated(monkeypatch):
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "RS256, ES256")
    assert load_settings().jwt_algorithms == ["RS256", "ES256"]


def test_secret_with_public_key_algorithms_is_refused(monkeypatch):
    monkeypatch.setenv("COACH_JWT_SECRET", GOOD_SECRET)
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "RS256")
    with pytest.raises(ConfigError, match="COACH_JWT_ALGORITHMS"):
        load_settings()


def test_api_needs_a_key():
    """Without a key the api refuses to start and says which settings to set."""
    with pytest.raises(ConfigError, match="COACH_JWT_SECRET"):
        load_settings().require_jwt_key()


def test_missing_public_key_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("COACH_JWT_PUBLIC_KEY_FILE", str(tmp_path / "nope.pem"))
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "RS256")
    with pytest.raises(ConfigError, match="COACH_JWT_PUBLIC_KEY_FILE"):
        load_settings().require_jwt_key()


def test_history_hours_cover_yesterday_in_troll(monkeypatch):
    """At the end of Monday 26 October 2026 in Antarctica/Troll, yesterday (the Sunday its
    clocks went back from +02 to +00, 26 h) started 50 h ago: the minimum, computed from the
    zone data, covers it, and one hour less is refused naming the variable."""
    from config.history import longest_yesterday_and_today, min_history_hours
    from wod.day import local_midnight, yesterday

    troll = ZoneInfo("Antarctica/Troll")
    day = yesterday(datetime(2026, 10, 26, 23, 59, tzinfo=UTC), troll)
    assert day.local_date == date(2026, 10, 25)
    end_of_today = local_midnight(date(2026, 10, 27), troll)
    span = end_of_today.astimezone(UTC) - datetime.fromtimestamp(day.start_us / 1e6, UTC)
    assert span == timedelta(hours=50)
    year_2026 = (date(2026, 1, 1), date(2026, 12, 31))
    assert longest_yesterday_and_today(["Antarctica/Troll"], *year_2026) == span
    assert longest_yesterday_and_today(["UTC", "Asia/Tokyo"], *year_2026) == timedelta(hours=48)
    assert timedelta(hours=min_history_hours()) >= span
    assert load_settings().history_hours >= min_history_hours()
    monkeypatch.setenv("COACH_HISTORY_HOURS", str(min_history_hours() - 1))
    with pytest.raises(ConfigError, match=f"COACH_HISTORY_HOURS: .*at least {min_history_hours()}"):
        load_settings()


@pytest.mark.parametrize(
    "protocol,name,value",
    [
        ("PLAINTEXT", "COACH_KAFKA_SASL_MECHANISM", "PLAIN"),
        ("PLAINTEXT", "COACH_KAFKA_SASL_USERNAME", "coach"),
        ("PLAINTEXT", "COACH_KAFKA_SASL_PASSWORD", "pw"),
        ("SSL", "COACH_KAFKA_SASL_USERNAME", "coach"),
        ("PLAINTEXT", "COACH_KAFKA_SSL_CAFILE", "/etc/ssl/ca.pem"),
        ("SASL_PLAINTEXT", "COACH_KAFKA_SSL_CAFILE", "/etc/ssl/ca.pem"),
    ],
)
def test_kafka_settings_the_protocol_ignores_are_refused(monkeypatch, protocol, name, value):
    """SASL settings without a SASL protocol, a CA file without TLS: they would be ignored,
    so start-up stops and names them and the protocol."""
    monkeypatch.setenv("COACH_KAFKA_SECURITY_PROTOCOL", protocol)
    monkeypatch.setenv(name, value)
    with pytest.raises(
        ConfigError, match=f"{name} set but COACH_KAFKA_SECURITY_PROTOCOL is {protocol}"
    ):
        load_settings()


def test_kafka_settings_the_protocol_uses_are_accepted(monkeypatch):
    monkeypatch.setenv("COACH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("COACH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("COACH_KAFKA_SASL_USERNAME", "coach")
    monkeypatch.setenv("COACH_KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("COACH_KAFKA_SSL_CAFILE", "/etc/ssl/ca.pem")
    settings = load_settings()
    assert settings.kafka_sasl_username == "coach"


def test_the_erasures_topic_must_be_a_topic_of_its_own(monkeypatch):
    """An erasures topic named like another would be compacted or read as that one."""
    assert load_settings().topic_erasures == "fitness.erasures"
    monkeypatch.setenv("COACH_TOPIC_ERASURES", "fitness.workouts")
    with pytest.raises(ConfigError, match="COACH_TOPIC_ERASURES"):
        load_settings()
