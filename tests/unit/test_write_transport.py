"""The connector's WriteRecords transport raises exactly what the botocore client raises, answer for answer.

Each case is one HTTP answer served by a local server; the same prebuilt body goes once through the
transport and once through the botocore client it wraps, and both outcomes must be the same.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from connector.auth import Identity
from connector.config import Settings
from connector.timestream.clients import ClientCache
from connector.timestream.errors import Kind, classify
from connector.timestream.planning import plan_calls
from connector.timestream.records import record
from connector.timestream.write_transport import TransportWriteClient
from connector.timestream.writer import call_parameters

IDENTITY = Identity("AKIATRANSPORTTEST001", "transport-secret")


class _Answers(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server: Any = self.server
        server.requests.append(dict(self.headers))
        status, payload, close = server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-RequestId", "req-1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if close:  # drop the kept-alive connection without saying so, as an idle timeout does
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[Any]:
    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    httpd.daemon_threads = True
    httpd.requests = []
    httpd.answer = (200, b'{"RecordsIngested":{"Total":1,"MemoryStore":1,"MagneticStore":0}}', False)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _client(url: str, **overrides: Any) -> Any:
    settings = replace(Settings(), write_endpoint=url, region="us-east-1", **overrides)
    return ClientCache(settings).write_client(IDENTITY)


def _parameters(client: Any) -> dict[str, Any]:
    call = plan_calls([record((("job", "j"),), "up", 1_700_000_000_000, "1.0", 20)])[0]
    return call_parameters(client, "db", "tbl", call)


def _outcome(call: Any) -> tuple[object, ...]:
    try:
        answer = call()
    except ClientError as exc:
        response = {k: v for k, v in exc.response.items() if k != "ResponseMetadata"}
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        return type(exc).__name__, response, status, classify(exc)
    return "ok", {k: v for k, v in answer.items() if k != "ResponseMetadata"}


ERROR_ANSWERS = {
    "rejected records": (
        419,
        {
            "__type": "com.amazonaws.timestream.v20181101#RejectedRecordsException",
            "message": "One or more records have been rejected.",
            "RejectedRecords": [{"RecordIndex": 0, "Reason": "The record timestamp is outside the time range."}],
        },
    ),
    "throttling": (400, {"__type": "ThrottlingException", "message": "Rate exceeded"}),
    "validation": (400, {"__type": "ValidationException", "message": "bad dimension"}),
    "internal": (500, {"__type": "InternalServerException", "message": "oops"}),
    "access denied": (403, {"__type": "AccessDeniedException", "Message": "not allowed"}),
    "missing table": (404, {"__type": "ResourceNotFoundException", "Message": "no such table"}),
    "unknown signature": (403, {"__type": "UnrecognizedClientException", "message": "bad key"}),
    "an error botocore has no class for": (400, {"__type": "SomethingNewException", "message": "new"}),
    "not json at all": (502, b"<html>bad gateway</html>"),
}


@pytest.mark.parametrize("case", ERROR_ANSWERS)
def test_an_error_answer_raises_what_the_botocore_client_raises(server: Any, case: str) -> None:
    status, body = ERROR_ANSWERS[case]
    server.answer = (status, body if isinstance(body, bytes) else json.dumps(body).encode(), False)
    client = _client(f"http://127.0.0.1:{server.server_address[1]}")
    assert isinstance(client, TransportWriteClient)
    params = _parameters(client)
    ours = _outcome(lambda: client.write_records(**params))
    botocores = _outcome(lambda: client._botocore_client.write_records(**params))
    assert ours[0] != "ok"
    assert ours == botocores


def test_a_success_answer_is_parsed_and_the_request_is_signed_and_named(server: Any) -> None:
    client = _client(f"http://127.0.0.1:{server.server_address[1]}")
    answer = client.write_records(**_parameters(client))
    assert answer["RecordsIngested"]["Total"] == 1
    headers = server.requests[-1]
    assert headers["X-Amz-Target"] == "Timestream_20181101.WriteRecords"
    assert headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={IDENTITY.access_key_id}/")
    assert "/us-east-1/timestream/aws4_request" in headers["Authorization"]
    assert "prometheus-timestream-connector/" in headers["User-Agent"]


def test_a_connection_the_server_dropped_is_replaced_and_the_call_goes_through(server: Any) -> None:
    ok = server.answer[1]
    server.answer = (200, ok, True)  # every answer, then the connection is closed under the client
    client = _client(f"http://127.0.0.1:{server.server_address[1]}")
    params = _parameters(client)
    for _ in range(3):
        assert client.write_records(**params)["RecordsIngested"]["Total"] == 1
    assert len(server.requests) == 3  # each call sent once on a live connection


def test_connection_failures_are_botocores_retryable_errors() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = _client(f"http://127.0.0.1:{port}")
    with pytest.raises(EndpointConnectionError) as refused:
        client.write_records(**_parameters(client))
    assert classify(refused.value) is Kind.RETRYABLE


def test_an_answer_slower_than_the_call_timeout_is_a_read_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection and never answers
    try:
        client = _client(f"http://127.0.0.1:{listener.getsockname()[1]}", call_timeout=0.2)
        with pytest.raises(ReadTimeoutError) as slow:
            client.write_records(**_parameters(client))
        assert classify(slow.value) is Kind.RETRYABLE
    finally:
        listener.close()


def test_without_a_configured_endpoint_the_address_describe_endpoints_names_is_used_for_its_period() -> None:
    settings = replace(Settings(), write_endpoint=None, region="us-east-1")
    client = ClientCache(settings).write_client(IDENTITY)
    transport = client._transport
    with Stubber(client._botocore_client) as stub:
        endpoint = {"Address": "ingest-cell9.timestream.example", "CachePeriodInMinutes": 5}
        stub.add_response("describe_endpoints", {"Endpoints": [endpoint]})
        assert transport._endpoint() == "https://ingest-cell9.timestream.example"
        assert transport._endpoint() == "https://ingest-cell9.timestream.example"  # cached: one call stubbed
        stub.assert_no_pending_responses()


def test_a_proxy_in_the_environment_keeps_botocores_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = _client("https://ingest.timestream.us-east-1.amazonaws.com")
    assert not isinstance(client, TransportWriteClient)


def test_the_role_without_credentials_fails_the_call_as_botocore_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import NoCredentialsError

    from connector.auth import ROLE

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    settings = replace(Settings(), write_endpoint="http://127.0.0.1:9", region="us-east-1")
    client = ClientCache(settings).write_client(ROLE)
    with pytest.raises(NoCredentialsError):
        client.write_records(**_parameters(client))


@pytest.mark.parametrize("token", [None, "session-token-value"])
def test_the_light_signing_request_signs_exactly_as_botocores_own_request(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    import datetime

    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from connector.timestream.write_transport import _SigningRequest

    monkeypatch.setattr(auth, "get_current_datetime", lambda: datetime.datetime(2026, 12, 1, 13, 14, 15))
    credentials = Credentials("AKIASIGNINGTEST00001", "signing-secret", token)
    headers = {"Host": "ingest.example:8443", "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "T"}
    body = b'{"DatabaseName":"db","Records":[]}'
    reference = AWSRequest("POST", "https://ingest.example:8443/", data=body, headers=dict(headers))
    auth.SigV4Auth(credentials, "timestream", "eu-west-1").add_auth(reference)
    light = _SigningRequest("https://ingest.example:8443/", body, dict(headers))
    auth.SigV4Auth(credentials, "timestream", "eu-west-1").add_auth(light)
    assert light.headers == dict(reference.headers.items())
    assert ("X-Amz-Security-Token" in light.headers) == (token is not None)


def test_the_signing_key_kept_for_the_day_signs_exactly_as_botocores_signer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once per day and secret: a rotated secret, another day or region signs as if derived anew."""
    import datetime

    from botocore import auth
    from botocore.credentials import Credentials

    from connector.timestream.write_transport import _DailyKeySigV4Auth, _SigningRequest

    now = [datetime.datetime(2026, 12, 1, 23, 59, 59)]
    monkeypatch.setattr(auth, "get_current_datetime", lambda: now[0])
    keys: dict = {}  # type: ignore[type-arg]
    headers = {"Host": "ingest.example", "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "T"}

    def signed(signer: type, credentials: Credentials, region: str) -> dict[str, str]:
        request = _SigningRequest("https://ingest.example/", b"{}", dict(headers))
        extra = (keys,) if signer is _DailyKeySigV4Auth else ()
        signer(credentials, "timestream", region, *extra).add_auth(request)
        return request.headers

    first, rotated = Credentials("AKIAKEPTKEY000000001", "first-secret"), Credentials("AKIAKEPTKEY000000001", "new")
    for credentials, day, region in [
        (first, now[0], "eu-west-1"),
        (first, now[0], "eu-west-1"),  # the kept key
        (rotated, now[0], "eu-west-1"),
        (rotated, now[0] + datetime.timedelta(seconds=1), "eu-west-1"),  # the next day
        (rotated, now[0] + datetime.timedelta(seconds=1), "us-east-1"),
    ]:
        now[0] = day
        assert signed(_DailyKeySigV4Auth, credentials, region) == signed(auth.SigV4Auth, credentials, region)
    assert len(keys) == 1


def test_a_header_value_with_a_line_break_is_never_sent() -> None:
    from connector.timestream.write_transport import _request_head

    assert _request_head({"A": "b"}, 3) == b"POST / HTTP/1.1\r\nA: b\r\nContent-Length: 3\r\n\r\n"
    with pytest.raises(ValueError, match="line break"):
        _request_head({"X-Amz-Security-Token": "abc\r\nX-Evil: 1"}, 3)


def test_a_garbled_answer_is_a_closed_connection_to_retry() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def garble() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"SMTP ready\r\n\r\n")

    threading.Thread(target=garble, daemon=True).start()
    client = _client(f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        with pytest.raises(ConnectionClosedError):
            client.write_records(**_parameters(client))
    finally:
        listener.close()
