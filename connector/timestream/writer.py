"""Concurrent WriteRecords calls with bounded retries and exact accounting of every record."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector.timestream.calls import WriteCall
from connector.timestream.errors import Kind, error_code, error_message
from connector.timestream.fast_json import PREBUILT_BODY, takes_prebuilt_body
from connector.timestream.retry import CallFailed, call_with_retries

if TYPE_CHECKING:
    from mypy_boto3_timestream_write import TimestreamWriteClient


@dataclass(frozen=True)
class CallFailure:
    kind: Kind
    code: str
    message: str
    records: int


@dataclass
class WriteResult:
    """What happened to every record handed to ``write``: written, rejected, failed or unfinished."""

    written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failures: list[CallFailure] = field(default_factory=list)
    unfinished: int = 0  # records whose calls had not ended by the deadline
    attempts: int = 0

    @property
    def failed(self) -> int:
        return sum(f.records for f in self.failures)

    def merge(self, other: WriteResult) -> None:
        self.written += other.written
        self.rejected.update(other.rejected)
        self.failures.extend(other.failures)
        self.unfinished += other.unfinished
        self.attempts += other.attempts


class Writer:
    """Runs the calls of one request in a bounded thread pool shared by all requests of the process."""

    def __init__(self, concurrency: int, max_attempts: int, sleep: Callable[[float], None] = time.sleep):
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="timestream-write")

    def write(
        self, client: TimestreamWriteClient, database: str, table: str, calls: Sequence[WriteCall], deadline: float
    ) -> WriteResult:
        total = WriteResult()
        if time.monotonic() >= deadline:  # nothing may start once the answer is due
            total.unfinished = sum(len(call.records) for call in calls)
            return total
        # Every call, even a lone one, runs in the pool: only a bounded wait keeps the deadline.
        futures: dict[Future[WriteResult], WriteCall] = {
            self._pool.submit(self._run, client, database, table, call, deadline): call for call in calls
        }
        done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        for future in done:
            total.merge(future.result())
        for future in pending:
            future.cancel()
            total.unfinished += len(futures[future].records)
        return total

    def _run(
        self, client: TimestreamWriteClient, database: str, table: str, call: WriteCall, deadline: float
    ) -> WriteResult:
        params = call_parameters(client, database, table, call)
        result = WriteResult()
        try:
            response, result.attempts = call_with_retries(
                lambda: client.write_records(**params), deadline, self._max_attempts, self._sleep, "write"
            )
        except CallFailed as failed:
            result.attempts = failed.attempts
            rejected = _rejected_records(failed.error)
            if rejected is not None:
                result.written += len(call.records) - len(rejected)
                result.rejected.update(rejected)
            else:
                code, message = error_code(failed.error), error_message(failed.error)
                result.failures.append(CallFailure(failed.kind, code, message, len(call.records)))
            return result
        ingested = response.get("RecordsIngested", {}).get("Total")
        result.written += len(call.records) if ingested is None else int(ingested)
        return result


def call_parameters(client: TimestreamWriteClient, database: str, table: str, call: WriteCall) -> dict[str, Any]:
    """The call's body built here when the client takes it (the connector's own), else its parameters."""
    if not takes_prebuilt_body(client):
        return call.parameters(database, table)
    # The names are there for botocore's hooks and logs; the fast serializer sends only the body.
    return {"DatabaseName": database, "TableName": table, PREBUILT_BODY: call.body(database, table)}


def _rejected_records(exc: BaseException) -> list[str] | None:
    """Reasons of a RejectedRecordsException (one per rejected record), or None for other errors."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or response.get("Error", {}).get("Code") != "RejectedRecordsException":
        return None
    rejected = response.get("RejectedRecords") or []
    return [_reason_category(str(item.get("Reason", "rejected"))) for item in rejected] or ["rejected"]


def _reason_category(reason: str) -> str:
    return reason.strip()[:200]
