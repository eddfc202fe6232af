"""Errors that carry the HTTP status they must become."""

from __future__ import annotations

# The challenge every 401 carries: clients then know Basic auth with an IAM key pair is expected.
BASIC_CHALLENGE = 'Basic realm="prometheus-timestream"'


class HTTPError(Exception):
    """A request that ends with ``status`` and a readable ``message`` (never a secret in it)."""

    status = 500

    def __init__(self, message: str, status: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message
        self.headers = headers or {}


class BadRequest(HTTPError):
    status = 400


class Unauthorized(HTTPError):
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": BASIC_CHALLENGE})


class Forbidden(HTTPError):
    status = 403


class PayloadTooLarge(HTTPError):
    status = 413


class UnsupportedMediaType(HTTPError):
    status = 415
