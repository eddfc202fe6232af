"""The table a backfill writes to: Amazon Timestream as the operator, or the embedded store.

A backfill runs on an operator's machine, not in Lambda: it signs with the default AWS
credential chain (environment, profile, SSO, instance role), never with a key pair from a request.
``--local`` opens the embedded store on a data directory, as ``serve --local`` does, but keeps an
existing table's retention settings (the refusal check must see the table as it is).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.auth import ROLE, Identity
from connector.config import Settings
from connector.timestream.clients import ClientCache
from connector.timestream.errors import Kind, error_code, error_message
from connector.timestream.retry import CallFailed, call_with_retries

if TYPE_CHECKING:
    from mypy_boto3_timestream_write import TimestreamWriteClient

DESCRIBE_SECONDS = 60.0


class TargetError(Exception):
    """The table cannot be used: missing, or the credentials may not describe it."""


@dataclass
class Target:
    client: TimestreamWriteClient
    database: str
    table: str
    name: str  # for people: "Amazon Timestream (us-east-1)" or "the embedded store in DIR"
    key: str  # for the checkpoint: which store holds the table
    close: Callable[[], None] = lambda: None


def write_client(settings: Settings, identity: Identity = ROLE) -> TimestreamWriteClient:
    """The write client every backfill call goes through; ``ROLE`` signs with the default credential chain."""
    return ClientCache(settings).write_client(identity)


def target_key(settings: Settings, local: bool, data_dir: Path | None) -> str:
    """Which store holds the table, for the checkpoint: a region (and endpoint) or a data directory."""
    if local:
        return f"local:{data_dir.resolve() if data_dir else 'memory'}"
    return "timestream:" + settings.region + (f" {settings.write_endpoint}" if settings.write_endpoint else "")


def open_target(settings: Settings, local: bool, data_dir: Path | None) -> Target:
    """The table's client; ``--local`` starts the embedded store on ``data_dir`` (stopped by ``close``)."""
    key = target_key(settings, local, data_dir)
    if not local:
        where = settings.region + (f" at {settings.write_endpoint}" if settings.write_endpoint else "")
        return Target(write_client(settings), settings.database, settings.table, f"Amazon Timestream ({where})", key)
    from connector.local import local_credentials, open_store

    store = open_store(settings.region, data_dir)
    try:
        _ensure_local_table(store, settings)
    except Exception:
        store.stop()
        raise
    local_settings = replace(settings, write_endpoint=store.url, query_endpoint=store.url)
    client = write_client(local_settings, Identity(*local_credentials()))
    where = f"the embedded store in {data_dir}" if data_dir else "the embedded store in memory"
    return Target(client, settings.database, settings.table, where, key, store.stop)


def _ensure_local_table(store: Any, settings: Settings) -> None:
    """The table ``serve --local`` would create, unless there is one already."""
    from connector.local import create_local_table

    if not store.table_exists(settings.database, settings.table):
        create_local_table(store, settings)


def describe(target: Target, max_attempts: int) -> dict[str, Any]:
    """The table's ``DescribeTable`` structure; ``TargetError`` saying what to fix when it fails."""
    try:
        answer, _ = call_with_retries(
            lambda: target.client.describe_table(DatabaseName=target.database, TableName=target.table),
            time.monotonic() + DESCRIBE_SECONDS,
            max_attempts,
        )
    except CallFailed as failed:
        code, message = error_code(failed.error), error_message(failed.error)
        hint = {
            Kind.MISSING: "create it (template.yml does) or set DEFAULT_DATABASE / DEFAULT_TABLE",
            Kind.UNAUTHENTICATED: "check the AWS credentials (environment, profile or role)",
            Kind.FORBIDDEN: "the credentials need timestream:DescribeTable, timestream:WriteRecords "
            "and timestream:DescribeEndpoints",
        }.get(failed.kind, "try again later")
        raise TargetError(
            f"cannot describe table {target.database}.{target.table} in {target.name}: {code}: {message}; {hint}"
        ) from None
    return dict(answer["Table"])
