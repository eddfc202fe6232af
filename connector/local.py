"""Run the connector with the embedded Timestream-compatible store: no AWS account needed."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from connector.config import Settings

LOCAL_ACCESS_KEY_ID = "AKIALOCALPROMETHEUS"
LOCAL_SECRET_ACCESS_KEY = "local-secret-key"


def local_credentials() -> tuple[str, str]:
    return (
        os.environ.get("LOCAL_ACCESS_KEY_ID", LOCAL_ACCESS_KEY_ID),
        os.environ.get("LOCAL_SECRET_ACCESS_KEY", LOCAL_SECRET_ACCESS_KEY),
    )


class DataDirectoryInUse(SystemExit):
    """Another process has the data directory open: the command line prints this and exits 1."""


# The table both local entry points (serve and invoke) create: a day of memory store, and magnetic-store
# writes over the longest retention, so old samples (a replayed WAL, the ageing captured requests in
# events/) are accepted, as by a deployed table with magnetic writes enabled (the template's default).
LOCAL_MEMORY_RETENTION_HOURS = 24
LOCAL_MAGNETIC_RETENTION_DAYS = 73000


def start_store(settings: Settings, data_dir: Path | None) -> tuple[Any, Settings]:
    """Start the embedded store, create the database and table, and point the settings at it."""
    store = open_store(settings.region, data_dir)
    create_local_table(store, settings)
    return store, replace(settings, write_endpoint=store.url, query_endpoint=store.url)


def create_local_table(store: Any, settings: Settings) -> None:
    """The configured database and table with the local retention settings (an existing table takes them)."""
    store.create_database_and_table(
        settings.database,
        settings.table,
        memory_retention_hours=LOCAL_MEMORY_RETENTION_HOURS,
        magnetic_retention_days=LOCAL_MAGNETIC_RETENTION_DAYS,
        magnetic_writes=True,
    )


def open_store(region: str, data_dir: Path | None) -> Any:
    """The embedded store, started with the local key pair; ``DataDirectoryInUse`` if another process has it."""
    from emulator.server import EmbeddedTimestream  # only local runs have the emulator installed

    key_id, secret = local_credentials()
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return EmbeddedTimestream(data_dir=data_dir, credentials={key_id: secret}, region=region).start()
    except Exception as exc:
        if data_dir is not None and "lock" in str(exc).lower():
            raise DataDirectoryInUse(in_use_message(data_dir, str(exc))) from None
        raise


def in_use_message(data_dir: Path, error: str) -> str:
    """DuckDB lets one process open a database file; say which directory and, if known, which process."""
    pid = re.search(r"PID (\d+)", error)
    holder = f" (process {pid.group(1)})" if pid else ""
    return (
        f"the data directory {data_dir} is in use by another connector or invoke{holder}: "
        "stop that process, or pass another --data directory"
    )


def prometheus_snippet(url: str, sigv4: bool) -> str:
    """The prometheus.yml lines that point a Prometheus at this connector."""
    key_id, secret = local_credentials()
    auth = "" if sigv4 else (f"    basic_auth:\n      username: {key_id}\n      password: {secret}\n")
    return (
        f"remote_write:\n  - url: {url}/write\n{auth}remote_read:\n  - url: {url}/read\n    read_recent: true\n{auth}"
    )
