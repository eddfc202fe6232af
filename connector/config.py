"""Settings from the environment, validated once; every error names the variable at fault."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

AUTH_MODES = ("basic", "sigv4")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database: str = "PrometheusDatabase"
    table: str = "PrometheusMetricsTable"
    region: str = "us-east-1"
    log_level: str = "INFO"
    auth_mode: str = "basic"
    write_endpoint: str | None = None
    query_endpoint: str | None = None
    # Concurrent WriteRecords calls per request: IO-bound, so more than the vCPUs.
    write_concurrency: int = 64  # a 2,000-sample request is 25-50 calls: all of them at once
    # Seconds one Timestream call may take before it counts as failed and may be retried.
    call_timeout: float = 10.0
    # Whole-request budget, below API Gateway's 30 s integration timeout.
    request_timeout: float = 27.0
    # Attempts per Timestream call (writes and query pages) for throttling, 5xx and timeouts, within the deadline.
    max_attempts: int = 4
    # Largest decompressed request body accepted (bytes). Parsing a crafted body can take ~30x its
    # size in memory: 8 MiB keeps that within a 512 MB Lambda, and is ~80,000 samples of real traffic.
    max_body_bytes: int = 8 * 1024 * 1024
    # Largest remote-read response body: Lambda returns 6 MB at most, after base64's 4/3.
    max_read_response_bytes: int = 4_500_000
    # Concurrent Timestream queries of one read (time slices of a large answer).
    read_concurrency: int = 8
    # Label sets remembered across requests (about 1 KB each): a warm process translates faster.
    series_cache_size: int = 20_000
    # Clients kept per identity; the least recently used is dropped beyond this.
    client_cache_size: int = 64

    @property
    def sigv4(self) -> bool:
        return self.auth_mode == "sigv4"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        auth_mode = env.get("AUTH_MODE", defaults.auth_mode).strip().lower()
        if auth_mode not in AUTH_MODES:
            raise ConfigError(f"AUTH_MODE must be one of {', '.join(AUTH_MODES)}, got {auth_mode!r}")
        return cls(
            database=_name(env, "DEFAULT_DATABASE", defaults.database),
            table=_name(env, "DEFAULT_TABLE", defaults.table),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or defaults.region,
            log_level=_choice(env, "LOG_LEVEL", defaults.log_level, LOG_LEVELS),
            auth_mode=auth_mode,
            write_endpoint=env.get("TIMESTREAM_WRITE_ENDPOINT") or None,
            query_endpoint=env.get("TIMESTREAM_QUERY_ENDPOINT") or None,
            write_concurrency=_int(env, "WRITE_CONCURRENCY", defaults.write_concurrency, 1, 128),
            call_timeout=_float(env, "TIMESTREAM_CALL_TIMEOUT", defaults.call_timeout, 0.1, 60),
            request_timeout=_float(env, "REQUEST_TIMEOUT", defaults.request_timeout, 0.5, 900),
            max_attempts=_int(env, _attempts_variable(env), defaults.max_attempts, 1, 20),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", defaults.max_body_bytes, 1024, 1 << 30),
            max_read_response_bytes=_int(
                env, "MAX_READ_RESPONSE_BYTES", defaults.max_read_response_bytes, 1024, 1 << 30
            ),
            read_concurrency=_int(env, "READ_CONCURRENCY", defaults.read_concurrency, 1, 64),
            series_cache_size=_int(env, "SERIES_CACHE_SIZE", defaults.series_cache_size, 1, 10_000_000),
            client_cache_size=_int(env, "CLIENT_CACHE_SIZE", defaults.client_cache_size, 1, 10000),
        )


def _choice(env: Mapping[str, str], var: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(var) or default).strip().upper()
    if value not in allowed:
        raise ConfigError(f"{var} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _attempts_variable(env: Mapping[str, str]) -> str:
    """``TIMESTREAM_MAX_ATTEMPTS``, or its first name ``WRITE_MAX_ATTEMPTS`` (which always governed reads too)."""
    if env.get("WRITE_MAX_ATTEMPTS") and not env.get("TIMESTREAM_MAX_ATTEMPTS"):
        return "WRITE_MAX_ATTEMPTS"
    return "TIMESTREAM_MAX_ATTEMPTS"


def _name(env: Mapping[str, str], var: str, default: str) -> str:
    value = env.get(var, default).strip()
    if not 3 <= len(value) <= 256:
        raise ConfigError(f"{var} must be a Timestream name of 3 to 256 characters, got {value!r}")
    return value


def _int(env: Mapping[str, str], var: str, default: int, low: int, high: int) -> int:
    raw = env.get(var)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{var} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{var} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], var: str, default: float, low: float, high: float) -> float:
    raw = env.get(var)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{var} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{var} must be between {low} and {high}, got {value}")
    return value
