"""Shared fixtures: a started in-memory store with ``db.tbl`` and boto3 clients aimed at it.

Test modules are named ``test_emu_*`` and import helpers from ``emulator.testing`` only, so
they work whatever pytest import mode the project picks and never clash with other suites.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config

from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients

ACCESS_KEY = "AKIDTESTPRIMARY00001"
SECRET = "primary-secret"
OTHER_ACCESS_KEY = "AKIDTESTSECONDARY002"
OTHER_SECRET = "secondary-secret"


@pytest.fixture
def credentials() -> dict[str, str]:
    """The two key pairs the store accepts: primary and secondary."""
    return {ACCESS_KEY: SECRET, OTHER_ACCESS_KEY: OTHER_SECRET}


@pytest.fixture
def store(credentials: dict[str, str]) -> Iterator[EmbeddedTimestream]:
    """A started in-memory store with ``db.tbl`` (6 h memory retention, no magnetic writes)."""
    with EmbeddedTimestream(credentials=credentials) as started:
        started.create_database_and_table("db", "tbl")
        yield started


@pytest.fixture
def clients(store: EmbeddedTimestream) -> tuple[Any, Any]:
    """(write, query) boto3 clients signed with the primary key, retries off."""
    return boto3_clients(store, ACCESS_KEY, SECRET)


@pytest.fixture
def other_clients(store: EmbeddedTimestream) -> tuple[Any, Any]:
    """(write, query) clients signed with the secondary key."""
    return boto3_clients(store, OTHER_ACCESS_KEY, OTHER_SECRET)


@pytest.fixture
def write(clients: tuple[Any, Any]) -> Any:
    return clients[0]


@pytest.fixture
def query(clients: tuple[Any, Any]) -> Any:
    return clients[1]


@pytest.fixture
def unchecked_write(store: EmbeddedTimestream) -> Any:
    """A write client without botocore's client-side parameter validation, to test the server's."""
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False)
    return boto3_clients(store, ACCESS_KEY, SECRET, config)[0]
