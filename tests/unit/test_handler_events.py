import base64

import pytest

from connector.handler import request_from_event, response_to_event
from connector.http import Response


def test_http_api_v2_event_becomes_a_request() -> None:
    event = {
        "version": "2.0",
        "rawPath": "/prod/write",
        "headers": {"content-type": "application/x-protobuf", "authorization": "Basic eA=="},
        "requestContext": {"http": {"method": "POST", "path": "/prod/write"}, "stage": "prod"},
        "body": base64.b64encode(b"\x00\xffbinary").decode(),
        "isBase64Encoded": True,
    }
    request = request_from_event(event)
    assert (request.method, request.path, request.body) == ("POST", "/write", b"\x00\xffbinary")
    assert request.headers["Content-Type"] == "application/x-protobuf"


def test_rest_api_v1_event_keeps_header_case_but_lookups_ignore_it() -> None:
    event = {
        "httpMethod": "POST",
        "path": "/read",
        "headers": {"Content-Type": "application/x-protobuf", "X-Custom": "1"},
        "multiValueHeaders": {"Content-Type": ["application/x-protobuf"]},
        "body": "plain",
        "isBase64Encoded": False,
    }
    request = request_from_event(event)
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["x-custom"] == "1"
    assert request.body == b"plain"


def test_responses_are_base64_for_both_payload_versions() -> None:
    response = Response(200, b"\x01\x02", {"Content-Type": "application/x-protobuf"})
    for event in ({"version": "2.0"}, {"httpMethod": "POST"}):
        out = response_to_event(response, event)
        assert out["isBase64Encoded"] is True
        assert base64.b64decode(out["body"]) == b"\x01\x02"
        assert out["statusCode"] == 200


def test_a_configuration_error_at_cold_start_is_a_readable_500(monkeypatch: pytest.MonkeyPatch) -> None:
    from connector import handler, log

    monkeypatch.setenv("LOG_LEVEL", "FOO")
    monkeypatch.setenv("READ_CONCURRENCY", "zero")
    log.logger.cache_clear()
    previous = handler.install(None)
    try:
        event = {"version": "2.0", "rawPath": "/write", "requestContext": {"http": {"method": "POST"}}, "body": ""}
        out = handler.lambda_handler(event, None)
    finally:
        handler.install(previous)
        log.logger.cache_clear()
    assert out["statusCode"] == 500
    assert "configuration error" in base64.b64decode(out["body"]).decode()


@pytest.mark.parametrize(
    "event",
    [
        None,
        {"version": "2.0", "rawPath": 7},
        {"httpMethod": "POST", "path": "/write", "body": "%%", "isBase64Encoded": True},
    ],
    ids=["not a dict", "path not a string", "body not base64"],
)
def test_a_malformed_event_is_a_400_logged_as_a_refusal(event: object) -> None:
    """Refused before the core sees it, it is still logged as every refusal is (README, Logs)."""
    import logging

    from connector import handler
    from connector.log import logger
    from tests.helpers import LogCapture

    capture = LogCapture()
    target = logger()._logger
    target.addHandler(capture.handler)
    level = target.level
    target.setLevel(logging.INFO)
    try:
        out = handler.lambda_handler(event, None)  # type: ignore[arg-type]
    finally:
        target.removeHandler(capture.handler)
        target.setLevel(level)
    assert out["statusCode"] == 400
    lines = [r for r in capture.records() if r.get("message") == "request refused"]
    assert [(r["status"], r["reason"]) for r in lines] == [(400, base64.b64decode(out["body"]).decode().strip())]
