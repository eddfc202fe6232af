"""Write events/*.json: API Gateway events made from real Prometheus 2.42 requests.

    python deploy/make_events.py [--samples DIR] [--out DIR]

Each event is what API Gateway hands the function for a request to the deployed stage: an HTTP API
(payload 2.0) event and a REST API (payload 1.0) event for one write and one read. Bodies are the
captured snappy bytes, base64 with isBase64Encoded true; headers are the captured ones plus what API
Gateway adds, and a Basic auth header with the embedded store's key pair (connector/local.py).

The remote write 2.0 events (write-v2*) carry the same captured write converted to a 2.0 Request as
a Prometheus 3 sender encodes it (interned symbols, each series' metadata from the captured
metadata request), with the 2.0 Content-Type and version headers.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make `connector` importable without installing it

import captured  # noqa: E402
from connector.local import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY  # noqa: E402

SAMPLES = captured.DIRECTORY

# Fixed, obviously fake identifiers so that regenerating gives identical files.
API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STAGE = "dev"
SOURCE_IP = "198.51.100.7"  # TEST-NET-2: documentation range
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"

# (event file, captured body, captured headers, route path, as remote write 2.0)
EVENTS = (
    ("write", "00001_POST_write.snappy", "00001_POST_write.headers.json", "/write", False),
    ("read", "read_instant_up.snappy", "read.headers.json", "/read", False),
    ("write-v2", "00001_POST_write.snappy", "00001_POST_write.headers.json", "/write", True),
)


def basic_auth() -> str:
    pair = f"{LOCAL_ACCESS_KEY_ID}:{LOCAL_SECRET_ACCESS_KEY}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def captured_headers(meta: dict[str, Any], body: bytes) -> list[tuple[str, str]]:
    """The request's headers as API Gateway forwards them: its own Host and forwarding headers."""
    headers = [(name, value) for name, value in meta["headers"] if name.lower() not in ("host", "content-length")]
    return [
        ("Host", DOMAIN),
        *headers,
        ("Content-Length", str(len(body))),
        ("Authorization", basic_auth()),
        ("X-Amzn-Trace-Id", "Root=1-00000000-000000000000000000000000"),
        ("X-Forwarded-For", SOURCE_IP),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]


def http_api_event(
    path: str, headers: list[tuple[str, str]], body: bytes, when: float, request_id: str
) -> dict[str, Any]:
    """Payload 2.0: lowercase header names; with a named stage the raw path starts with it."""
    user_agent = dict(headers).get("User-Agent", "")
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": f"/{STAGE}{path}",
        "rawQueryString": "",
        "headers": {name.lower(): value for name, value in headers},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": f"/{STAGE}{path}",
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": f"POST {path}",
            "stage": STAGE,
            "time": datetime.fromtimestamp(when, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(when * 1000),
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


def rest_api_event(
    path: str, headers: list[tuple[str, str]], body: bytes, when: float, request_id: str
) -> dict[str, Any]:
    """Payload 1.0: header case kept, multi-value copies, path without the stage."""
    user_agent = dict(headers).get("User-Agent", "")
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "httpMethod": "POST",
            "identity": {"sourceIp": SOURCE_IP, "userAgent": user_agent},
            "path": f"/{STAGE}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": datetime.fromtimestamp(when, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(when * 1000),
            "resourcePath": path,
            "stage": STAGE,
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


def as_remote_write_2(samples: Path, body: bytes, meta: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """A captured 1.0 write as a 2.0 body, and its captured headers with 2.0's Content-Type and version."""
    from connector.prom import snappy
    from prompb import remote_pb2
    from tests.helpers import WRITE_V2_HEADERS, to_v2

    def decoded(path: Path) -> remote_pb2.WriteRequest:
        return remote_pb2.WriteRequest.FromString(snappy.decompress(path.read_bytes(), 1 << 26))

    captured = sorted(samples.glob("*_POST_write.snappy"))
    metadata = {m.metric_family_name: m for path in captured for m in decoded(path).metadata}
    request = remote_pb2.WriteRequest.FromString(snappy.decompress(body, 1 << 26))
    converted = snappy.compress(to_v2(request, metadata).SerializeToString())
    replaced = {name.lower(): value for name, value in WRITE_V2_HEADERS.items()}
    headers = [(name, replaced.get(name.lower(), value)) for name, value in meta["headers"]]
    return converted, {**meta, "headers": headers}


def make_events(samples: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, (name, body_file, headers_file, path, v2) in enumerate(EVENTS, start=1):
        body = (samples / body_file).read_bytes()
        meta = json.loads((samples / headers_file).read_text())
        if v2:
            body, meta = as_remote_write_2(samples, body, meta)
        headers = captured_headers(meta, body)
        request_id = f"00000000-0000-4000-8000-{number:012d}"
        for suffix, build in (("", http_api_event), ("-rest", rest_api_event)):
            event = build(path, headers, body, meta["t"], request_id)
            target = out / f"{name}{suffix}.json"
            target.write_text(json.dumps(event, indent=2) + "\n")
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="captured Prometheus requests")
    parser.add_argument("--out", type=Path, default=ROOT / "events")
    args = parser.parse_args(argv)
    if not args.samples.is_dir():
        parser.error(f"no captured requests at {args.samples}: pass --samples")
    for path in make_events(args.samples, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
