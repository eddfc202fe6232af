"""The one table from a kind of Timestream failure to the HTTP status that tells Prometheus the truth.

Prometheus resends a remote write on 5xx (and on 429 only when told to) and drops it on any other
4xx, so everything a resend can cure is 5xx with ``Retry-After``; reads use the same table.
"""

from __future__ import annotations

from connector.errors import BASIC_CHALLENGE, HTTPError
from connector.timestream.errors import Kind

# What the connector tells Prometheus to wait before resending (seconds, as the header's text).
RETRY_AFTER_SECONDS = "2"
DEADLINE_STATUS = 504

STATUS = {
    Kind.THROTTLED: 503,
    Kind.MISSING: 503,  # the database or table is absent: retryable once someone creates it
    Kind.RETRYABLE: 502,
    Kind.UNAUTHENTICATED: 401,
    Kind.FORBIDDEN: 403,
    Kind.INVALID: 400,
}
RESENDABLE = frozenset(kind for kind, status in STATUS.items() if status >= 500)


def headers_for(status: int) -> dict[str, str]:
    """``Retry-After`` on every answer a resend can cure; the Basic challenge on 401."""
    if status >= 500:
        return {"Retry-After": RETRY_AFTER_SECONDS}
    return {"WWW-Authenticate": BASIC_CHALLENGE} if status == 401 else {}


def http_error(kind: Kind, text: str) -> HTTPError:
    """The error a request ends with when one of its Timestream calls failed as ``kind``."""
    status = STATUS[kind]
    return HTTPError(text + ("; retry later" if status >= 500 else ""), status, headers_for(status))


def deadline_error(text: str) -> HTTPError:
    return HTTPError(text, DEADLINE_STATUS, headers_for(DEADLINE_STATUS))
