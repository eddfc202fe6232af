"""Settings from the environment: defaults, every variable read, errors that name the variable."""

from __future__ import annotations

import pytest

from connector.config import ConfigError, Settings
from connector.server import SERVER_MAX_READ_RESPONSE_BYTES, server_settings

# README.md's Configuration table, written out: the defaults a user is promised.
README_DEFAULTS = {
    "database": "PrometheusDatabase",
    "table": "PrometheusMetricsTable",
    "region": "us-east-1",
    "auth_mode": "basic",
    "log_level": "INFO",
    "write_endpoint": None,  # discovery
    "query_endpoint": None,
    "write_concurrency": 64,
    "max_attempts": 4,
    "call_timeout": 10,
    "request_timeout": 27,
    "max_read_response_bytes": 4_500_000,
    "read_concurrency": 8,
    "series_cache_size": 20_000,
    "max_body_bytes": 8 * 1024 * 1024,
}


def test_defaults_without_any_variable_are_the_readmes() -> None:
    settings = Settings.from_env({})
    assert {name: getattr(settings, name) for name in README_DEFAULTS} == README_DEFAULTS
    assert settings == Settings()


def test_read_settings_are_read() -> None:
    settings = Settings.from_env({"READ_CONCURRENCY": "3", "MAX_READ_RESPONSE_BYTES": "2048"})
    assert (settings.read_concurrency, settings.max_read_response_bytes) == (3, 2048)


def test_attempts_take_the_new_name_and_still_the_old_one() -> None:
    assert Settings.from_env({"TIMESTREAM_MAX_ATTEMPTS": "7"}).max_attempts == 7
    assert Settings.from_env({"WRITE_MAX_ATTEMPTS": "5"}).max_attempts == 5
    assert Settings.from_env({"WRITE_MAX_ATTEMPTS": "5", "TIMESTREAM_MAX_ATTEMPTS": "2"}).max_attempts == 2


@pytest.mark.parametrize(
    ("variable", "value"),
    [("READ_CONCURRENCY", "0"), ("READ_CONCURRENCY", "many"), ("TIMESTREAM_MAX_ATTEMPTS", "21"), ("AUTH_MODE", "x")],
)
def test_errors_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_the_local_server_allows_larger_read_answers_unless_configured() -> None:
    assert server_settings(Settings(), {}).max_read_response_bytes == SERVER_MAX_READ_RESPONSE_BYTES
    assert Settings().max_read_response_bytes < SERVER_MAX_READ_RESPONSE_BYTES
    configured = Settings.from_env({"MAX_READ_RESPONSE_BYTES": "5000"})
    assert server_settings(configured, {"MAX_READ_RESPONSE_BYTES": "5000"}).max_read_response_bytes == 5000


def test_an_unknown_log_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        Settings.from_env({"LOG_LEVEL": "FOO"})
    assert Settings.from_env({"LOG_LEVEL": " debug "}).log_level == "DEBUG"
