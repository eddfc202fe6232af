"""SigV4: every API call is verified against the configured key pairs."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.server import EmbeddedTimestream
from emulator.sigv4 import canonical_request, signature
from emulator.testing import boto3_clients, make_record


def error_code(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"], error.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_unknown_access_key(store: EmbeddedTimestream) -> None:
    write, query = boto3_clients(store, "AKIDUNKNOWN000000000", "whatever")
    assert error_code(write.describe_endpoints) == ("UnrecognizedClientException", 403)
    assert error_code(lambda: query.query(QueryString="SELECT 1")) == ("UnrecognizedClientException", 403)


def test_wrong_secret(store: EmbeddedTimestream, credentials: dict[str, str]) -> None:
    key = next(iter(credentials))
    write, _ = boto3_clients(store, key, "not-the-secret")
    code = error_code(lambda: write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record()]))
    assert code == ("InvalidSignatureException", 403)
    assert store.stats()["records_written"] == 0


def test_missing_authentication(store: EmbeddedTimestream) -> None:
    write, _ = boto3_clients(
        store, "x", "y", Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1})
    )
    assert error_code(write.describe_endpoints) == ("MissingAuthenticationTokenException", 403)


def test_calls_are_counted_per_access_key(
    store: EmbeddedTimestream, clients: tuple[Any, Any], other_clients: tuple[Any, Any], credentials: dict[str, str]
) -> None:
    primary, secondary = credentials
    clients[0].describe_endpoints()
    clients[1].query(QueryString="SELECT 1")
    other_clients[0].write_records(DatabaseName="db", TableName="tbl", Records=[make_record()])
    assert store.stats()["calls_by_access_key"] == {primary: 2, secondary: 1}


def _signed_request(store: EmbeddedTimestream, key: str, secret: str, when: dt.datetime) -> urllib.request.Request:
    """A DescribeEndpoints request signed by the emulator's own signer at a chosen time."""
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "Host": f"127.0.0.1:{store.port}",
        "X-Amz-Date": amz_date,
        "X-Amz-Target": "Timestream_20181101.DescribeEndpoints",
    }
    signed = sorted(h.lower() for h in headers)
    lowered = {k.lower(): v for k, v in headers.items()}
    scope = f"{amz_date[:8]}/us-east-1/timestream/aws4_request"
    body = b"{}"
    sig = signature(secret, amz_date, scope, canonical_request("POST", "/", lowered, signed, body))
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"
    )
    return urllib.request.Request(store.url + "/", data=body, headers=headers, method="POST")


def test_raw_signed_request_and_clock_skew(store: EmbeddedTimestream, credentials: dict[str, str]) -> None:
    key, secret = next(iter(credentials.items()))
    now = dt.datetime.now(dt.UTC)
    with urllib.request.urlopen(_signed_request(store, key, secret, now)) as response:
        assert json.load(response)["Endpoints"][0]["Address"] == f"127.0.0.1:{store.port}"
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(_signed_request(store, key, secret, now - dt.timedelta(minutes=20)))
    assert error.value.code == 403 and json.load(error.value)["__type"] == "InvalidSignatureException"


def test_admin_endpoints_need_no_signature(store: EmbeddedTimestream) -> None:
    with urllib.request.urlopen(store.url + "/__admin/stats") as response:
        assert "calls_by_access_key" in json.load(response)
    with urllib.request.urlopen(store.url + "/__admin/health") as response:
        assert json.load(response) == {"status": "ok"}
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(store.url + "/__admin/nothing")
    assert error.value.code == 404
