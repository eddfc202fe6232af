"""One embedded store per test module, and connector servers (real HTTP) in front of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from connector.app import Connector
from connector.server import ConnectorServer
from emulator.server import EmbeddedTimestream
from tests.read.helpers import DATABASE, KEY_ID, SECRET, Door
from tests.store_fixtures import store_settings


@pytest.fixture(scope="module")
def store() -> Iterator[EmbeddedTimestream]:
    with EmbeddedTimestream(credentials={KEY_ID: SECRET}) as running:
        yield running


@pytest.fixture(scope="module")
def door_for(store: EmbeddedTimestream) -> Iterator[Callable[..., Door]]:
    """A connector server for a table (created on first use), one per table and module."""
    servers: dict[str, tuple[ConnectorServer, Door]] = {}

    def make(table: str, magnetic_writes: bool = False) -> Door:
        if table not in servers:
            store.create_database_and_table(DATABASE, table, memory_retention_hours=6, magnetic_writes=magnetic_writes)
            connector = Connector(store_settings(store, table, DATABASE, max_attempts=2, request_timeout=30))
            server = ConnectorServer(("127.0.0.1", 0), connector)
            server.start_background()
            servers[table] = (server, Door(server.url, connector))
        return servers[table][1]

    yield make
    for server, _ in servers.values():
        server.shutdown()
        server.server_close()
