"""AWS Lambda entry point: API Gateway HTTP API (payload 2.0) and REST API (1.0) events <-> the core."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from connector import metrics, process
from connector.app import Connector
from connector.config import ConfigError, Settings
from connector.http import Headers, Request, Response
from connector.log import logger

# Leave this much of the Lambda's remaining time to send the answer before the platform kills it.
_LAMBDA_MARGIN_SECONDS = 1.5

_connector: Connector | None = None


def install(core: Connector | None) -> Connector | None:
    """Make ``core`` the connector every invocation uses (None: build one from the environment on
    first use, as a cold start does); returns the one it replaces. For tests and ``invoke``."""
    global _connector
    previous, _connector = _connector, core
    return previous


def connector() -> Connector:
    """Built on first use and reused across invocations of the same execution environment."""
    global _connector
    if _connector is None:
        process.tune_garbage_collector()
        metrics.install(metrics.EmfBuffer())  # printed as EMF after each invocation (see lambda_handler)
        _connector = Connector(Settings.from_env())
    return _connector


class MalformedEvent(ValueError):
    """An event API Gateway would not send: the caller's mistake, answered 400 (never a crash)."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return response_to_event(_answer(event, context), event)
    finally:
        metrics.flush()  # EMF lines on stdout: CloudWatch Logs turns them into metrics


def _answer(event: dict[str, Any], context: Any) -> Response:
    try:
        request = request_from_event(event, _deadline(context))
    except MalformedEvent as exc:
        return _unrouted(400, str(exc))
    except Exception:  # any other shape (None, wrong types): the message names no part of the event
        return _unrouted(400, "malformed API Gateway proxy event")
    try:
        core = connector()
    except ConfigError as exc:  # the function's environment is wrong: say which variable, every time
        return _unrouted(500, f"connector configuration error: {exc}", request.path)
    return core.handle(request)


def _unrouted(status: int, reason: str, path: str | None = None) -> Response:
    """An answer given before the core sees the request, logged as the core logs its own."""
    extra = {"path": path, "status": status, "reason": reason}
    if status >= 500:
        logger().error("request failed", extra=extra)
    else:
        logger().info("request refused", extra=extra)
    return Response.text(status, reason)


def request_from_event(event: dict[str, Any], deadline: float | None = None) -> Request:
    """The transport-neutral request in an API Gateway event of either payload version."""
    if event.get("version") == "2.0":
        http = event.get("requestContext", {}).get("http", {})
        method = http.get("method", "")
        path = _strip_stage(event.get("rawPath") or http.get("path", "/"), event)
        headers = Headers(event.get("headers") or {})
        if event.get("cookies"):
            headers = Headers({**headers, "cookie": "; ".join(event["cookies"])})
    else:
        method = event.get("httpMethod", "")
        path = event.get("path") or "/"
        multi = event.get("multiValueHeaders") or {}
        single = event.get("headers") or {}
        headers = Headers({**{k: ",".join(v) for k, v in multi.items() if v}, **single})
    if not isinstance(method, str) or not isinstance(path, str):
        raise MalformedEvent("malformed API Gateway proxy event: method and path must be strings")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise MalformedEvent("malformed API Gateway proxy event: header names and values must be strings")
    return Request(method.upper(), path, headers, _body(event), deadline)


def response_to_event(response: Response, event: dict[str, Any]) -> dict[str, Any]:
    """API Gateway wants binary bodies base64-encoded and flagged."""
    result: dict[str, Any] = {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": base64.b64encode(response.body).decode("ascii"),
        "isBase64Encoded": True,
    }
    if not isinstance(event, dict) or event.get("version") != "2.0":
        result["multiValueHeaders"] = {}
    return result


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise MalformedEvent("event body is flagged base64 but is not valid base64") from None
    # Without the flag API Gateway passed the body as text (binary media types not configured).
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    raise MalformedEvent("malformed API Gateway proxy event: body must be a string")


def _strip_stage(path: str, event: dict[str, Any]) -> str:
    stage = event.get("requestContext", {}).get("stage")
    if stage and stage != "$default" and path.startswith(f"/{stage}/"):
        return path[len(stage) + 1 :]
    return path


def _deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + max(0.0, remaining() / 1000 - _LAMBDA_MARGIN_SECONDS)
