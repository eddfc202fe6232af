"""Fixtures of an embedded store with the connector's two front doors before it, for the suites
that share them (integration, robustness): each suite's conftest imports them, so pytest registers
them there, and no suite imports another's conftest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from connector.app import Connector
from connector.config import Settings
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients
from tests.doors import Door, lambda_with, serving
from tests.helpers import LogCapture, captured_logs

KEY_ID, SECRET = "AKIAINTEGRATIONTEST1", "integration-secret-1"
OTHER_KEY_ID, OTHER_SECRET = "AKIAINTEGRATIONTEST2", "integration-secret-2"
DATABASE, TABLE = "promdb", "metrics"


def store_settings(
    store: EmbeddedTimestream, table: str = TABLE, database: str = DATABASE, **overrides: Any
) -> Settings:
    """Connector settings aimed at ``database.table`` in the embedded store."""
    return replace(
        Settings(), database=database, table=table, write_endpoint=store.url, query_endpoint=store.url, **overrides
    )


@pytest.fixture(scope="module")
def store() -> Iterator[EmbeddedTimestream]:
    with EmbeddedTimestream(credentials={KEY_ID: SECRET, OTHER_KEY_ID: OTHER_SECRET}) as running:
        # Magnetic writes: the captured Prometheus requests keep their real (ageing) timestamps.
        running.create_database_and_table(DATABASE, TABLE, memory_retention_hours=6, magnetic_writes=True)
        running.create_database_and_table(DATABASE, "memory_only", memory_retention_hours=1)
        yield running


@pytest.fixture(autouse=True)
def _no_faults(store: EmbeddedTimestream) -> Iterator[None]:
    yield
    store.set_faults()


@pytest.fixture(scope="module")
def settings(store: EmbeddedTimestream) -> Settings:
    return store_settings(store, max_attempts=2, request_timeout=10)


@pytest.fixture(scope="module")
def server_door(settings: Settings) -> Iterator[Door]:
    with serving(Connector(settings)) as send:
        yield send


@pytest.fixture(scope="module")
def lambda_door(settings: Settings) -> Iterator[Door]:
    """The Lambda handler on HTTP API (2.0) events, its cached core swapped for one aimed at the store."""
    with lambda_with(Connector(settings)) as send:
        yield send


@pytest.fixture(params=["server", "lambda"], scope="module")
def door(request: pytest.FixtureRequest) -> Door:
    return request.getfixturevalue(f"{request.param}_door")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def query(store: EmbeddedTimestream) -> Callable[[str], list[dict[str, Any]]]:
    """Rows of a SQL query through boto3, as {column: text}."""
    _, query_client = boto3_clients(store, KEY_ID, SECRET)

    def run(sql: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in query_client.get_paginator("query").paginate(QueryString=sql):
            names = [c["Name"] for c in page["ColumnInfo"]]
            for row in page["Rows"]:
                rows.append({n: d.get("ScalarValue") for n, d in zip(names, row["Data"], strict=True)})
        return rows

    return run


@pytest.fixture
def connector_logs() -> Iterator[LogCapture]:
    """The connector's log lines, at DEBUG so that no level hides a leak."""
    with captured_logs(logging.DEBUG) as capture:
        yield capture
