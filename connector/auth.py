"""Who a request acts as: the IAM key pair in its Basic auth, or the function's role in SigV4 mode."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from connector.errors import Unauthorized


@dataclass(frozen=True)
class Identity:
    """An IAM key pair, or ``ROLE`` for the function's own credentials (SigV4 mode only)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    def __str__(self) -> str:
        return f"Identity({self.access_key_id})"

    __repr__ = __str__


ROLE = Identity("<role>", "")


def identity_for(headers: Mapping[str, str], sigv4: bool) -> Identity:
    """The identity for a request's Timestream calls; Unauthorized when Basic auth is required and bad.

    In Basic mode the key pair from the request is the only identity: nothing ever falls back to
    environment, profile or role credentials.
    """
    if sigv4:
        return ROLE
    header = headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization header: send the IAM access key pair as HTTP Basic auth")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise Unauthorized("Authorization must use the Basic scheme with an IAM access key pair")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text; UnicodeDecodeError is one too
        raise Unauthorized("Authorization Basic credentials are not valid base64 of UTF-8 text") from None
    key_id, sep, secret = decoded.partition(":")
    if not sep or not key_id or not secret:
        raise Unauthorized("Basic credentials must be 'access_key_id:secret_access_key', both non-empty")
    return Identity(key_id, secret)
