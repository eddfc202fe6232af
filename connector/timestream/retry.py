"""One retry loop for every Timestream call, writes and queries alike.

Throttling, Timestream 5xx and timeouts are retried with exponential backoff and full jitter, as
long as the wait still ends before the request's deadline; anything else fails at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from connector import metrics
from connector.timestream.errors import Kind, backoff, classify

T = TypeVar("T")

# A retry must leave at least this long before the deadline for the call itself.
DEADLINE_MARGIN_SECONDS = 0.25
RETRIED_KINDS = (Kind.RETRYABLE, Kind.THROTTLED)


class CallFailed(Exception):
    """A call that failed for good: its last error, what that error means, how often it was tried."""

    def __init__(self, error: BaseException, kind: Kind, attempts: int) -> None:
        super().__init__(str(error))
        self.error, self.kind, self.attempts = error, kind, attempts


def call_with_retries(
    call: Callable[[], T],
    deadline: float,
    max_attempts: int,
    sleep: Callable[[float], None] = time.sleep,
    operation: str = "write",
    first_error: BaseException | None = None,
) -> tuple[T, int]:
    """``call()``'s result and the attempts it took; ``CallFailed`` once retrying cannot help.

    ``operation`` ("write" or "query") labels the retry and throttle metrics. ``first_error``: the
    first attempt was made elsewhere (the writer's multiplexed round) and failed with it.
    """
    first = 1
    if first_error is not None:
        _before_retry(first_error, 1, deadline, max_attempts, sleep, operation)
        first = 2
    for attempt in range(first, max_attempts + 1):
        try:
            return call(), attempt
        except Exception as exc:  # botocore raises many unrelated types; classify decides
            _before_retry(exc, attempt, deadline, max_attempts, sleep, operation)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _before_retry(
    error: BaseException,
    attempt: int,
    deadline: float,
    max_attempts: int,
    sleep: Callable[[float], None],
    operation: str,
) -> None:
    """Wait out the backoff after a failed ``attempt``, or raise ``CallFailed`` when no retry can help."""
    kind = classify(error)
    delay = backoff(attempt)
    if kind not in RETRIED_KINDS or attempt >= max_attempts or not _fits(delay, deadline):
        raise CallFailed(error, kind, attempt) from error
    metrics.record_retry(operation, kind is Kind.THROTTLED)
    sleep(delay)


def _fits(delay: float, deadline: float) -> bool:
    return time.monotonic() + delay < deadline - DEADLINE_MARGIN_SECONDS
