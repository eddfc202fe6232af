"""Run the connector with the embedded Timestream-compatible store: no AWS account needed."""

from __future__ import annotations

import os
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


def start_store(settings: Settings, data_dir: Path | None) -> tuple[Any, Settings]:
    """Start the embedded store, create the database and table, and point the settings at it."""
    from emulator.server import EmbeddedTimestream  # only local runs have the emulator installed

    key_id, secret = local_credentials()
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    store = EmbeddedTimestream(data_dir=data_dir, credentials={key_id: secret}, region=settings.region).start()
    # A day of memory store, so samples replayed from a Prometheus WAL are accepted locally too.
    store.create_database_and_table(settings.database, settings.table, memory_retention_hours=24)
    return store, replace(settings, write_endpoint=store.url, query_endpoint=store.url)


def prometheus_snippet(url: str, sigv4: bool) -> str:
    """The prometheus.yml lines that point a Prometheus at this connector."""
    key_id, secret = local_credentials()
    auth = "" if sigv4 else (f"    basic_auth:\n      username: {key_id}\n      password: {secret}\n")
    return (
        f"remote_write:\n  - url: {url}/write\n{auth}remote_read:\n  - url: {url}/read\n    read_recent: true\n{auth}"
    )
