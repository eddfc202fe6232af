"""Concurrent WriteRecords calls with bounded retries and exact accounting of every record."""

from __future__ import annotations

import functools
import threading
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
    """Writes the calls of one request, at most ``concurrency`` in flight in the process at once.

    A client that multiplexes calls (the connector's transport) sends every first attempt from the
    request's own thread; retries, and clients that do not, run in a thread pool of that size.
    """

    def __init__(self, concurrency: int, max_attempts: int, sleep: Callable[[float], None] = time.sleep):
        self._max_attempts = max_attempts
        self._concurrency = concurrency
        # Calls in flight in the process at once, whichever request's thread sends them.
        self._slots = threading.BoundedSemaphore(concurrency)
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="timestream-write")

    def write(
        self, client: TimestreamWriteClient, database: str, table: str, calls: Sequence[WriteCall], deadline: float
    ) -> WriteResult:
        total = WriteResult()
        if time.monotonic() >= deadline:  # nothing may start once the answer is due
            total.unfinished = sum(len(call.records) for call in calls)
            return total
        retries: dict[Future[WriteResult], WriteCall] = {}
        for call, outcome in zip(calls, self._first_round(client, database, table, calls, deadline), strict=True):
            if outcome is None:
                total.unfinished += len(call.records)
            elif isinstance(outcome, dict):
                total.merge(_answered(call, outcome, attempts=1))
            else:  # failed (or not tried: _NOT_TRIED): the pool retries it while the deadline allows
                first_error = None if outcome is _NOT_TRIED else outcome
                retries[self._pool.submit(self._run, client, database, table, call, deadline, first_error)] = call
        # Only a bounded wait keeps the deadline.
        done, pending = wait(retries, timeout=max(0.0, deadline - time.monotonic()))
        for future in done:
            total.merge(future.result())
        for future in pending:
            future.cancel()
            total.unfinished += len(retries[future].records)
        return total

    def _first_round(
        self, client: TimestreamWriteClient, database: str, table: str, calls: Sequence[WriteCall], deadline: float
    ) -> Sequence[dict[str, Any] | BaseException | None]:
        """Every call's first attempt, sent from this thread when the client multiplexes calls (the
        connector's transport); otherwise each call's whole run goes to the pool."""
        write_many = getattr(client, "write_many", None)
        if write_many is None:
            return [_NOT_TRIED] * len(calls)
        # Each call's body is built when it is sent, not all before the first goes out.
        parameters = [functools.partial(call_parameters, client, database, table, call) for call in calls]
        return write_many(parameters, deadline, self._concurrency, self._slots)  # type: ignore[no-any-return]

    def _run(
        self,
        client: TimestreamWriteClient,
        database: str,
        table: str,
        call: WriteCall,
        deadline: float,
        first_error: BaseException | None = None,
    ) -> WriteResult:
        params = call_parameters(client, database, table, call)
        try:
            response, attempts = call_with_retries(
                lambda: client.write_records(**params), deadline, self._max_attempts, self._sleep, "write", first_error
            )
        except CallFailed as failed:
            return _failed(call, failed)
        return _answered(call, response, attempts)  # type: ignore[arg-type]


_NOT_TRIED = Exception("not tried in the first round")


def _answered(call: WriteCall, response: dict[str, Any], attempts: int) -> WriteResult:
    ingested = response.get("RecordsIngested", {}).get("Total")
    written = len(call.records) if ingested is None else int(ingested)
    return WriteResult(written=written, attempts=attempts)


def _failed(call: WriteCall, failed: CallFailed) -> WriteResult:
    result = WriteResult(attempts=failed.attempts)
    rejected = _rejected_records(failed.error)
    if rejected is not None:
        result.written += len(call.records) - len(rejected)
        result.rejected.update(rejected)
    else:
        code, message = error_code(failed.error), error_message(failed.error)
        result.failures.append(CallFailure(failed.kind, code, message, len(call.records)))
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
