"""What a failed Timestream call means for the request: retry, credentials, or bad data."""

from __future__ import annotations

import enum
import random

_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 2.0

_RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "InternalServerException",
        "ServiceUnavailableException",
        "ServiceQuotaExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
        "EndpointConnectionError",
    }
)
_UNAUTHENTICATED = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
    }
)
_FORBIDDEN = frozenset({"AccessDeniedException", "AccessDenied", "NotAuthorized"})
_MISSING = frozenset({"ResourceNotFoundException"})


class Kind(enum.Enum):
    RETRYABLE = "retryable"  # throttling, Timestream 5xx, timeouts: Prometheus must resend
    THROTTLED = "throttled"  # retryable, and the answer carries Retry-After
    UNAUTHENTICATED = "unauthenticated"  # 401: the key pair is unknown or the secret is wrong
    FORBIDDEN = "forbidden"  # 403: the key pair may not do this
    MISSING = "missing"  # database or table absent: retryable once someone creates it
    INVALID = "invalid"  # the data itself: retrying the same batch cannot help


def classify(exc: BaseException) -> Kind:
    """The meaning of an exception raised by a boto3 Timestream call."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "ThrottlingException" or status == 429:
            return Kind.THROTTLED
        if code in _RETRYABLE or status >= 500:
            return Kind.RETRYABLE
        if code in _UNAUTHENTICATED:
            return Kind.UNAUTHENTICATED
        if code in _FORBIDDEN:
            return Kind.FORBIDDEN
        if code in _MISSING:
            return Kind.MISSING
        return Kind.INVALID
    if isinstance(exc, ReadTimeoutError | ConnectionError | HTTPClientError | TimeoutError | OSError):
        return Kind.RETRYABLE
    return Kind.RETRYABLE  # an unknown failure must not make Prometheus drop the batch


def error_code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """A message safe to log and return: botocore messages carry no secrets, but cap the length."""
    from botocore.exceptions import ClientError

    text = exc.response.get("Error", {}).get("Message", "") if isinstance(exc, ClientError) else exc
    return str(text)[:300]


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` + 1: exponential with full jitter, so concurrent
    calls do not retry in lockstep."""
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
