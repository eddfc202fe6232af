"""``EmbeddedTimestream``: the offline Timestream Write + Query endpoint on one local port.

Typical use in tests::

    with EmbeddedTimestream() as store:
        store.create_database_and_table("db", "tbl")
        write, query = boto3_clients(store, *DEFAULT_CREDENTIAL)  # emulator.testing

Both boto3 services (``timestream-write`` and ``timestream-query``) take ``store.url`` as
``endpoint_url``; requests are dispatched by operation name.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from emulator.dispatch import Dispatcher
from emulator.faults import FaultSettings
from emulator.metering import Meter
from emulator.query import QueryEngine
from emulator.query_api import QueryApi
from emulator.store import Store
from emulator.transport import Server
from emulator.validation import check_resource_name, check_retention
from emulator.write_api import WriteApi

DEFAULT_ACCESS_KEY_ID = "AKIAEMULATOR00000000"
DEFAULT_SECRET_ACCESS_KEY = "emulator-secret-access-key"
DEFAULT_CREDENTIAL = (DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY)


class EmbeddedTimestream:
    """A Timestream-compatible server backed by DuckDB (``data_dir=None`` keeps data in memory)."""

    def __init__(
        self,
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        allow_colon_in_measure_name: bool = True,
        query_timeout_seconds: float = 60.0,
    ) -> None:
        self.host = host
        self.region = region
        self._requested_port = port
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._credentials = (
            dict(credentials) if credentials is not None else {DEFAULT_ACCESS_KEY_ID: DEFAULT_SECRET_ACCESS_KEY}
        )
        self._allow_colon = allow_colon_in_measure_name
        self._query_timeout = query_timeout_seconds
        self._meter = Meter()
        self._stopping = threading.Event()
        self._store: Store | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._dispatcher: Dispatcher | None = None
        self._engine: QueryEngine | None = None

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        return self._server.server_address[1] if self._server else self._requested_port

    @property
    def url(self) -> str:
        """``http://host:port``, the ``endpoint_url`` for both boto3 services."""
        return f"http://{self.host}:{self.port}"

    @property
    def store(self) -> Store:
        """The underlying catalog (started stores only)."""
        if self._store is None:
            raise RuntimeError("EmbeddedTimestream is not started")
        return self._store

    def start(self) -> EmbeddedTimestream:
        """Open the database and serve in a background daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._store = Store(self._data_dir, self.region)
        address = lambda: f"{self.host}:{self.port}"  # noqa: E731 - resolved after bind
        write = WriteApi(self._store, self._meter, address, self._allow_colon)
        self._engine = QueryEngine(self._store, self._query_timeout)
        query = QueryApi(self._engine, self._meter, address)
        operations = {**write.operations(), **query.operations()}
        self._dispatcher = Dispatcher(operations, self._credentials, self._meter, self._stopping)
        self._server = Server((self.host, self._requested_port), self._dispatcher)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="embedded-timestream", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release hung calls and close the database (data dir stays)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._engine is not None:
            self._engine.close()
        if self._store is not None:
            self._store.close()
        self._server = self._thread = self._store = self._dispatcher = self._engine = None

    def __enter__(self) -> EmbeddedTimestream:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def create_database_and_table(
        self,
        db: str,
        table: str,
        memory_retention_hours: int = 6,
        magnetic_retention_days: int = 73000,
        magnetic_writes: bool = False,
    ) -> None:
        """Idempotent setup without HTTP; an existing table takes the given settings."""
        store = self.store
        check_resource_name("database", db)
        check_resource_name("table", table)
        check_retention(memory_retention_hours, magnetic_retention_days)
        with store.lock:
            if db not in {d.name for d in store.databases()}:
                store.create_database(db)
            if table in {t.name for t in store.tables(db)}:
                info = store.table(db, table)
                store.update_table(info, memory_retention_hours, magnetic_retention_days, magnetic_writes)
            else:
                store.create_table(db, table, memory_retention_hours, magnetic_retention_days, magnetic_writes)

    def table_exists(self, db: str, table: str) -> bool:
        """Whether ``db.table`` exists, for callers that must not change an existing table's settings."""
        store = self.store
        with store.lock:
            return db in {d.name for d in store.databases()} and table in {t.name for t in store.tables(db)}

    def stats(self) -> dict[str, Any]:
        """Counters, as ``GET /__admin/stats``."""
        return self._meter.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters, as ``POST /__admin/stats/reset``."""
        self._meter.reset()

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Configure fault injection, as ``POST /__admin/faults``; no arguments turns faults off."""
        if self._dispatcher is None:
            raise RuntimeError("EmbeddedTimestream is not started")
        parsed = FaultSettings.from_json(settings)
        self._dispatcher.faults.configure(parsed)
        return parsed.to_json()
