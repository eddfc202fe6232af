"""Robustness fixtures: the shared store and front doors (tests/store_fixtures.py), and a capture
of the connector's log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from connector.log import logger
from tests.helpers import LogCapture
from tests.store_fixtures import (  # noqa: F401 - fixtures, registered by being imported
    _no_faults,
    door,
    lambda_door,
    query,
    server_door,
    settings,
    store,
)


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
