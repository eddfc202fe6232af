"""AWS-shaped API errors.

Every failure that must reach a boto3 client is raised as ``ApiError`` so the HTTP layer can
turn it into the JSON 1.0 error body botocore maps onto ``client.exceptions.<Code>``.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as ``{"__type": code, "message": ...}`` with an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body; both spellings of the message key, as AWS services vary."""
        return {"__type": self.code, "message": self.message, "Message": self.message, **self.extra}


def validation(message: str) -> ApiError:
    """A whole-request ``ValidationException`` (HTTP 400)."""
    return ApiError("ValidationException", message)


def not_found(message: str) -> ApiError:
    """``ResourceNotFoundException`` (HTTP 404) for unknown databases and tables on the write API."""
    return ApiError("ResourceNotFoundException", message, 404)


def conflict(message: str) -> ApiError:
    """``ConflictException`` (HTTP 409) for creating something that already exists."""
    return ApiError("ConflictException", message, 409)
