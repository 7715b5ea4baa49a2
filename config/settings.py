"""Typed settings, read once at start-up from `COACH_*` environment variables.

Build them with `load_settings()` in `main()` (or pass a `Settings(...)` in tests); nothing
reads the environment at import time. A bad value stops start-up with a `ConfigError` that
names the environment variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config import checks
from config.history import covers_yesterday
from config.urls import is_http_url

ENV_PREFIX = "COACH_"
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


class ConfigError(Exception):
    """A setting is missing or wrong; the message names its environment variable."""


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


class Settings(BaseSettings):
    """Every setting of coach. The environment variable is `COACH_` + the field name."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1)
    """Comma-separated host:port list of the Kafka brokers."""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`. The three SASL settings are refused unless the
    protocol is `SASL_PLAINTEXT` or `SASL_SSL`.
    """
    kafka_sasl_username: str | None = None
    """SASL user."""
    kafka_sasl_password: SecretStr | None = None
    """SASL password."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle for `SSL`/`SASL_SSL` (system CAs otherwise); refused with the other protocols."""
    topic_exercises: str = Field("fitness.exercises", min_length=1)
    """The catalog topic (compacted)."""
    topic_workouts: str = Field("fitness.workouts", min_length=1)
    """The workouts topic."""
    topic_erasures: str = Field("fitness.erasures", min_length=1)
    """The compacted topic of erasures, one record per erased user (docs/PRIVACY.md): read
    to its end before the workouts when a projection is built."""
    topic_partitions: int = Field(3, ge=1, le=1000)
    """Partitions of each topic created by `coach topics create`."""

    # The projection
    db_path: Path = Path("coach.db")
    """The projection file (`make run` uses `.coach-dev/coach.db`)."""
    history_hours: int = Field(50, le=24 * 60, validate_default=True)
    """How long completed exercises are kept; at least `min_history_hours()`, which covers
    "yesterday" in every time zone until the end of today."""
    dead_letter_days: int = Field(14, ge=1, le=3650)
    """How long dead letters (which may hold a user's workout) are kept, counted from their
    record's Kafka timestamp; the consumer removes older ones."""
    batch_max_records: int = Field(20_000, ge=1, le=200_000)
    """Most records applied in one transaction."""
    poll_timeout_ms: int = Field(500, ge=10, le=60_000)
    """How long one fetch waits for records."""
    heartbeat_seconds: float = Field(2.0, gt=0, le=300)
    """How often the consumer records its heartbeat and looks for new partitions."""
    writer_process: bool = True
    """Commit batches in a child process while the next batch is decoded (two cores), in the
    consumer and in `coach replay`; false commits on their own thread."""

    # Auth
    jwt_secret: SecretStr | None = None
    """HS256 secret (at least 32 characters; placeholders, among them the compose file's former
    default, are refused).
    """
    jwt_public_key_file: Path | None = None
    """PEM public key for RS256/ES256/EdDSA. Set one of the secret, this and `COACH_JWT_JWKS_URL`.
    """
    jwt_algorithms: Annotated[list[str], NoDecode] = ["HS256"]
    """Comma-separated allow-list; HMAC and public-key algorithms never mixed."""
    jwt_issuer: str | None = None
    """Required `iss` when set; empty is refused (unset it not to check `iss`)."""
    jwt_audience: str | None = None
    """Required `aud` when set; empty is refused (unset it not to check `aud`)."""
    jwt_leeway_seconds: int = Field(30, ge=0, le=600)
    """Clock skew allowed for `exp`/`nbf`/`iat`."""
    jwt_max_bytes: int = Field(4096, ge=256, le=65536)
    """Longer tokens are refused."""
    jwt_cache_size: int = Field(10_000, ge=0, le=1_000_000)
    """Verified tokens kept in memory (never used past their `exp`); 0 turns the cache off."""
    jwt_jwks_url: str | None = None
    """The issuer's JSON Web Key Set (http or https); tokens are verified with the key their
    `kid` names. Unset with COACH_JWT_ISSUER set and no secret or key file: found through
    the issuer's `/.well-known/openid-configuration`."""
    jwt_jwks_min_refresh_seconds: float = Field(30.0, ge=0.1, le=3600)
    """The shortest time between two fetches of the key set (an unknown `kid` asks for one)."""
    jwt_jwks_max_age_seconds: float = Field(600.0, ge=1, le=86_400)
    """The longest time a fetched key set is kept before it is fetched again (its
    `Cache-Control: max-age` within these two bounds; none: this)."""
    jwt_jwks_timeout_seconds: float = Field(5.0, gt=0, le=60)
    """Connect and read timeout of a key set fetch (never on a request's path)."""
    jwt_jwks_cache_file: Path | None = None
    """Where the last fetched key set is kept, to start with when the issuer is down."""

    # The WOD
    default_tz: str = "UTC"
    """Zone for users whose request and token name none."""
    wod_size: int = Field(6, ge=1, le=100)
    """Exercises in a WOD."""
    wod_cache_size: int = Field(10_000, ge=0, le=1_000_000)
    """Users whose rendered WOD each api process keeps (LRU); 0 turns the cache off."""
    wod_inline: bool = True
    """GET and HEAD /fitness/wod answered inside coach's HTTP protocol, without an ASGI task
    (api/inline.py); off: through the ASGI app like every other path. Same responses."""

    # Operations
    ready_max_lag: int = Field(1000, ge=0)
    """/ready fails when the projection is more records than this behind its topics."""
    ready_max_heartbeat_age_seconds: float = Field(30.0, gt=0, le=86_400)
    """/ready fails when the consumer's last heartbeat is older than this."""
    ready_max_data_age_seconds: float = Field(120.0, gt=0, le=86_400)
    """/ready fails when the projection misses events published more than this long ago
    (the consumer unable to write, or behind, for about as long). A broker outage only makes
    it "degraded" (api/readiness.py)."""
    wod_only_when_ready: bool = False
    """GET /fitness/wod answers 503 while /ready fails (behind, no heartbeat, no catalog), so
    that nginx sends the request to the next replica (deploy/nginx: proxy_next_upstream
    http_503), then to the monolith. Off: a replica that is behind still answers."""
    status_cache_seconds: float = Field(0.02, ge=0, le=60)
    """How long the api reuses what it read of the consumer's status and the catalog version
    on the WOD path (0: read them on every request). It bounds how long a held WOD outlives
    a change: 20 ms keeps publish-to-WOD freshness p99 under 100 ms at 2,000 workouts/s
    (bench/freshness.py: 68 ms; 158 ms at 50 ms), for one read of 0.1 to 0.25 ms every
    20 ms per process (under 1.3 % of a core)."""
    loop: Literal["asyncio", "uvloop", "auto"] = "asyncio"
    """The event loop `coach api` and `coach run` serve on. asyncio by default: under
    saturation uvloop (libuv) leaves some keep-alive connections waiting many loop turns, a
    p99 many times asyncio's at the same throughput (docs/BENCHMARKS.md, "Why the closed
    loop's tail starves under uvloop"). auto: uvicorn's choice, uvloop when installed."""
    bench_ceiling: bool = False
    """Serve GET /bench/ceiling (same auth, fixed body) for the benchmark. Never in production."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Comma-separated addresses or networks (CIDR) of the proxies whose `X-Forwarded-For`
    and `X-Forwarded-Proto` uvicorn believes (`*`: any peer; empty: none); passed to uvicorn
    by `coach api` and `coach run`."""

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [a.strip() for a in value.split(",") if a.strip()]
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _one_family(cls, value: list[str]) -> list[str]:
        return checks.one_family(value)

    @field_validator("loop")
    @classmethod
    def _loop_installed(cls, value: str) -> str:
        return checks.loop_installed(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        return checks.addresses(value)

    @field_validator("history_hours")
    @classmethod
    def _covers_yesterday(cls, value: int) -> int:
        return covers_yesterday(value)

    @field_validator("jwt_secret")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            checks.real_secret(value.get_secret_value())
        return value

    @field_validator("jwt_jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not is_http_url(value):
            raise ValueError("must be an http or https URL with a host")
        return value

    @field_validator("jwt_issuer", "jwt_audience")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        return value if value is None else checks.claim_not_empty(value)

    @field_validator("default_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return checks.known_zone(value)

    @model_validator(mode="after")
    def _three_topics(self) -> Settings:
        names = ("topic_exercises", "topic_workouts", "topic_erasures")
        if len({getattr(self, n) for n in names}) < len(names):
            raise ValueError(f"{', '.join(env_name(n) for n in names)} must be three topics")
        return self

    @model_validator(mode="after")
    def _kafka_settings_are_used(self) -> Settings:
        """SASL and CA settings that the security protocol would ignore are refused."""
        protocol = f"{env_name('kafka_security_protocol')} is {self.kafka_security_protocol}"
        sasl = ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password")
        set_sasl = [env_name(f) for f in sasl if getattr(self, f) is not None]
        if set_sasl and self.kafka_security_protocol not in SASL_PROTOCOLS:
            raise ValueError(
                f"{', '.join(set_sasl)} set but {protocol}, which uses no SASL: "
                "set it to SASL_PLAINTEXT or SASL_SSL, or unset them"
            )
        if self.kafka_ssl_cafile is not None and self.kafka_security_protocol not in TLS_PROTOCOLS:
            raise ValueError(
                f"{env_name('kafka_ssl_cafile')} set but {protocol}, which uses no TLS: "
                "set it to SSL or SASL_SSL, or unset it"
            )
        return self

    @model_validator(mode="after")
    def _key_matches_algorithms(self) -> Settings:
        keys = ("jwt_secret", "jwt_public_key_file", "jwt_jwks_url")
        given = [env_name(k) for k in keys if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"set one of {', '.join(given)}")
        hmac = set(self.jwt_algorithms) <= checks.HMAC_ALGORITHMS
        if self.uses_jwks and hmac:
            raise ValueError(
                f"{env_name('jwt_algorithms')} must be public-key algorithms (e.g. RS256, "
                f"ES256, EdDSA) with a key set ({env_name('jwt_jwks_url')} or "
                f"{env_name('jwt_issuer')})"
            )
        if self.jwt_public_key_file and hmac:
            raise ValueError(
                f"{env_name('jwt_algorithms')} must be public-key algorithms "
                f"(e.g. RS256) with {env_name('jwt_public_key_file')}"
            )
        if self.jwt_secret and not hmac:
            raise ValueError(
                f"{env_name('jwt_algorithms')} must be HMAC algorithms (e.g. HS256) "
                f"with {env_name('jwt_secret')}"
            )
        return self

    @property
    def uses_jwks(self) -> bool:
        """Tokens are verified with the issuer's key set: COACH_JWT_JWKS_URL is set, or
        COACH_JWT_ISSUER is and neither a secret nor a key file (OpenID Connect discovery)."""
        if self.jwt_jwks_url is not None:
            return True
        static = self.jwt_secret is not None or self.jwt_public_key_file is not None
        return self.jwt_issuer is not None and not static

    def require_jwt_key(self) -> None:
        """The api must not start without a way to verify tokens."""
        if self.jwt_secret is None and self.jwt_public_key_file is None and not self.uses_jwks:
            raise ConfigError(
                f"no JWT key configured: set {env_name('jwt_secret')} (HS256), "
                f"{env_name('jwt_public_key_file')} (RS256/ES256/EdDSA) or "
                f"{env_name('jwt_jwks_url')} (the issuer's key set)"
            )
        if self.jwt_jwks_url is None and self.uses_jwks and not is_http_url(self.jwt_issuer):
            raise ConfigError(
                f"{env_name('jwt_issuer')}: must be an http or https URL to find the issuer's "
                f"key set (or set {env_name('jwt_jwks_url')}, {env_name('jwt_secret')} or "
                f"{env_name('jwt_public_key_file')})"
            )
        if self.jwt_public_key_file and not self.jwt_public_key_file.is_file():
            raise ConfigError(
                f"{env_name('jwt_public_key_file')}: no file at {self.jwt_public_key_file}"
            )


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment; raise ConfigError naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = [str(p) for p in err["loc"]]
            name = env_name(loc[0]) if loc else "settings"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("bad configuration: " + "; ".join(problems)) from None
