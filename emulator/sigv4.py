"""AWS Signature Version 4 verification.

The store checks every API request the way AWS does, so tests prove which credentials a
client really used: an unknown key, a wrong secret or a missing signature fail with the
exception names AWS returns (all HTTP 403). Any region and service name in the credential
scope is accepted, because boto3 signs Timestream calls as service ``timestream``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from email.message import Message
from urllib.parse import parse_qsl, quote

from emulator.errors import ApiError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
# ``http.server`` headers (case-insensitive ``Message``) or a plain mapping with the exact names.
Headers = Mapping[str, str] | Message
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]+)\s*"
)


def _denied(code: str, message: str) -> ApiError:
    return ApiError(code, message, 403)


def verify_request(
    method: str,
    target: str,
    headers: Headers,
    body: bytes,
    credentials: Mapping[str, str],
    now: dt.datetime | None = None,
) -> str:
    """Check the ``Authorization`` header of a request; returns the access key id that signed it.

    ``headers`` must be case-insensitive (``http.server`` message headers are); ``target`` is
    the request path with its query string.
    """
    authorization = headers.get("Authorization")
    if not authorization:
        raise _denied("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTH.fullmatch(authorization.strip())
    if not match:
        raise _denied(
            "IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature."
        )
    scope_parts = match["credential"].split("/")
    if len(scope_parts) != 5 or scope_parts[4] != "aws4_request":
        raise _denied(
            "IncompleteSignatureException", "Credential must have the form AKID/date/region/service/aws4_request."
        )
    access_key, scope = scope_parts[0], "/".join(scope_parts[1:])
    secret = credentials.get(access_key)
    if secret is None:
        raise _denied("UnrecognizedClientException", "The security token included in the request is invalid.")
    amz_date = _check_date(headers, scope_parts[1], now or dt.datetime.now(dt.UTC))
    signed = match["signed"].split(";")
    canonical = canonical_request(method, target, headers, signed, body)
    expected = signature(secret, amz_date, scope, canonical)
    if not hmac.compare_digest(expected, match["signature"]):
        raise _denied(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    return access_key


def _check_date(headers: Headers, scope_date: str, now: dt.datetime) -> str:
    amz_date = headers.get("X-Amz-Date") or ""
    try:
        stamp = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _denied("IncompleteSignatureException", "X-Amz-Date header is missing or malformed.") from None
    if amz_date[:8] != scope_date:
        raise _denied("InvalidSignatureException", "Credential scope date does not match X-Amz-Date.")
    if abs(now - stamp) > MAX_CLOCK_SKEW:
        raise _denied(
            "InvalidSignatureException", f"Signature expired: {amz_date} is more than 15 minutes from the server time."
        )
    return amz_date


def canonical_request(method: str, target: str, headers: Headers, signed: list[str], body: bytes) -> str:
    """The SigV4 canonical request for the headers the client says it signed."""
    path, _, query = target.partition("?")
    canonical_headers = "".join(f"{name}:{_header_value(headers, name)}\n" for name in signed)
    payload_hash = headers.get("X-Amz-Content-Sha256") or hashlib.sha256(body).hexdigest()
    return "\n".join(
        [
            method.upper(),
            quote(path or "/", safe="/~"),
            _canonical_query(query),
            canonical_headers,
            ";".join(signed),
            payload_hash,
        ]
    )


def _header_value(headers: Headers, name: str) -> str:
    values = headers.get_all(name) if isinstance(headers, Message) else None
    joined = ",".join(values) if values else (headers.get(name) or "")
    return " ".join(joined.split())


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature(secret: str, amz_date: str, scope: str, canonical: str) -> str:
    """HMAC chain over the string to sign, keyed by date, region, service and 'aws4_request'."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, digest])
    key = ("AWS4" + secret).encode("utf-8")
    for part in scope.split("/"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
