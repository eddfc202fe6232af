"""Robustness fixtures: the integration suite's store and front doors, plus what they lack here.

Reused from ``tests/integration/conftest.py`` (imported so pytest registers them for this package):
``store`` (one embedded store per module, two key pairs), ``settings``, ``server_door``,
``lambda_door``, ``door`` (both), ``query`` and the autouse ``_no_faults``. Added here: a Lambda
invocation with a fake context (the integration door passes ``None``), servers for connectors built
inside a test (other settings, other environment), and a capture of the connector's log lines.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector import handler as lambda_module
from connector.app import Connector
from connector.log import logger
from tests.integration.conftest import (  # noqa: F401 - fixtures, registered by being imported
    DATABASE,
    KEY_ID,
    OTHER_KEY_ID,
    OTHER_SECRET,
    SECRET,
    TABLE,
    Answer,
    Door,
    _no_faults,
    door,
    lambda_door,
    query,
    server_door,
    serving,
    settings,
    store,
    store_settings,
)


class FakeLambdaContext:
    """The part of the Lambda context the handler uses: the time left before the platform kills it."""

    def __init__(self, remaining_ms: int) -> None:
        self._ends = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def http_api_event(method: str, path: str, headers: dict[str, str], body: bytes, **extra: Any) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event as the platform delivers it (JSON round trip)."""
    event = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
        **extra,
    }
    return json.loads(json.dumps(event))


def answer_of(result: dict[str, Any]) -> Answer:
    """The handler's return value as an HTTP answer; fails the test if it is not what API Gateway needs."""
    assert isinstance(result, dict) and isinstance(result.get("statusCode"), int), result
    raw = result.get("body", "")
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return Answer(result["statusCode"], {k.lower(): v for k, v in (result.get("headers") or {}).items()}, body)


@contextlib.contextmanager
def lambda_with(connector: Connector) -> Iterator[None]:
    """Make ``connector`` the Lambda handler's cached core for the duration (a warm execution environment)."""
    previous = lambda_module.install(connector)
    try:
        yield
    finally:
        lambda_module.install(previous)


def invoke(event: Any, context: Any = None) -> Answer:
    return answer_of(lambda_module.lambda_handler(event, context))


class LogCapture:
    """Every line the connector's logger emits, formatted by its own Powertools JSON formatter."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logger().registered_formatter)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def connector_logs() -> Iterator[LogCapture]:
    """The connector's log lines, at DEBUG so that no level hides a leak."""
    capture = LogCapture()
    target = logger()._logger
    level = target.level
    target.addHandler(capture.handler)
    target.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        target.removeHandler(capture.handler)
        target.setLevel(level)
