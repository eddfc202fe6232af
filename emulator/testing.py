"""Helpers for test suites (no pytest dependency): boto3 clients, records, query rows."""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from emulator.server import EmbeddedTimestream

_session_lock = threading.Lock()


@lru_cache(maxsize=1)
def _shared_session() -> boto3.session.Session:
    """One session for every client: botocore then loads the service models only once."""
    return boto3.session.Session()


def boto3_clients(
    store: EmbeddedTimestream, access_key: str, secret: str, config: Config | None = None
) -> tuple[Any, Any]:
    """``(timestream-write, timestream-query)`` clients signed with the given key, aimed at ``store``.

    Retries are off by default (one attempt in total) so injected faults reach the caller unchanged;
    note that botocore's ``retries={"max_attempts": 1}`` still allows one retry.
    """
    config = config or Config(retries={"total_max_attempts": 1, "mode": "standard"})
    options = {
        "endpoint_url": store.url,
        "region_name": store.region,
        "aws_access_key_id": access_key,
        "aws_secret_access_key": secret,
        "config": config,
    }
    with _session_lock:  # boto3 sessions are not thread-safe while creating clients
        session = _shared_session()
        return session.client("timestream-write", **options), session.client("timestream-query", **options)


def now_ms() -> int:
    """Current epoch milliseconds, the connector's time unit."""
    return int(time.time() * 1000)


def make_record(
    measure: str = "up",
    value: str = "1",
    time_ms: int | None = None,
    dims: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A single-measure DOUBLE record for ``WriteRecords`` (any field can be overridden)."""
    dims = {"job": "node"} if dims is None else dims
    built: dict[str, Any] = {
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "MeasureName": measure,
        "MeasureValue": value,
        "MeasureValueType": "DOUBLE",
        "Time": str(now_ms() if time_ms is None else time_ms),
    }
    built.update(extra)
    return built


def scalar_rows(query_client: Any, sql: str, **kwargs: Any) -> list[list[str | None]]:
    """Every row of a query (following ``NextToken``) as lists of scalar strings, None for NULL."""
    found: list[list[str | None]] = []
    token = None
    while True:
        args = {"QueryString": sql, **kwargs}
        if token:
            args["NextToken"] = token
        page = query_client.query(**args)
        found += [[d.get("ScalarValue") for d in row["Data"]] for row in page["Rows"]]
        token = page.get("NextToken")
        if not token:
            return found
