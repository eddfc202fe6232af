"""``python -m connector invoke EVENT... [--local [--data DIR]]``: what ``sam local invoke -e EVENT`` does,
without Docker. Runs the Lambda handler in this process on API Gateway event files and prints each answer.

The events run one after another in one simulated execution environment: a cold start, then warm
invocations, as on Lambda. With ``--local`` the embedded Timestream-compatible store serves the calls;
without it they go to Amazon Timestream, with the settings from the environment.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from connector.config import Settings

TEXT_BODY_LIMIT = 2000


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that the handler and Powertools read."""

    timeout_seconds: float
    function_name: str = "ConnectorFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/ConnectorFunction"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def load_event(path: Path) -> dict[str, Any]:
    try:
        event = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError(f"{path} is not an API Gateway event (a JSON object)")
    return event


def main(
    events: Sequence[Path],
    settings: Settings,
    local: bool = False,
    data_dir: Path | None = None,
    timeout: float = 30.0,
    out: TextIO | None = None,
) -> int:
    """Invoke the handler on each event file; 0 when every answer is 2xx, 1 otherwise, 2 on bad input."""
    out = out or sys.stdout
    try:
        loaded = [(path, load_event(path)) for path in events]
    except ValueError as exc:
        print(f"invoke: {exc}", file=sys.stderr)
        return 2
    with _environment(settings, local, data_dir, out) as lambda_handler:
        worst = 0
        for path, event in loaded:
            context = LambdaContext(timeout, aws_request_id=_request_id(event))
            started = time.perf_counter()
            response = lambda_handler(event, context)
            elapsed_ms = (time.perf_counter() - started) * 1000
            print(describe(path, response, elapsed_ms), file=out, flush=True)
            worst = max(worst, int(response.get("statusCode", 500)))
    return 0 if worst < 300 else 1


@contextmanager
def _environment(settings: Settings, local: bool, data_dir: Path | None, out: TextIO) -> Iterator[Any]:
    """The handler in a fresh execution environment; with ``local``, in front of the embedded store.

    The handler reads its settings from the environment, as on Lambda, so the store's endpoint goes
    there; the environment and the handler's cached connector are restored afterwards.
    """
    from connector import handler

    saved_env, saved_connector = dict(os.environ), handler.install(None)
    store = None
    try:
        if local:
            from connector.local import start_store

            store, _ = start_store(settings, data_dir)
            os.environ.update(
                TIMESTREAM_WRITE_ENDPOINT=store.url,
                TIMESTREAM_QUERY_ENDPOINT=store.url,
                AWS_EC2_METADATA_DISABLED="true",
            )
            where = f"embedded store at {store.url} (data in {data_dir or 'memory'})"
        else:
            where = f"Amazon Timestream in {settings.region}"
        print(f"invoking connector.handler.lambda_handler; table {settings.database}.{settings.table} on {where}",
              file=out, flush=True)
        handler.install(None)  # a cold start: settings are read from the environment set above
        yield handler.lambda_handler
    finally:
        handler.install(saved_connector)
        os.environ.clear()
        os.environ.update(saved_env)
        if store is not None:
            store.stop()


def _request_id(event: dict[str, Any]) -> str:
    request_id = (event.get("requestContext") or {}).get("requestId")
    return request_id if isinstance(request_id, str) and request_id else str(uuid.uuid4())


def describe(path: Path, response: dict[str, Any], elapsed_ms: float) -> str:
    """Status, headers and a readable account of the body of one Lambda response."""
    status = response.get("statusCode")
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    raw = response.get("body") or ""
    body = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode("utf-8")
    lines = [f"{path}: {status} in {elapsed_ms:.0f} ms"]
    lines += [f"  {name}: {value}" for name, value in sorted(headers.items())]
    lines.append(f"  body: {_describe_body(body, headers)}")
    return "\n".join(lines)


def _describe_body(body: bytes, headers: dict[str, str]) -> str:
    if not body:
        return "empty"
    lowered = {k.lower(): v.lower() for k, v in headers.items()}
    content_type = lowered.get("content-type", "")
    if content_type.startswith("text/") or "json" in content_type:
        text = body.decode("utf-8", errors="replace")
        shown = text if len(text) <= TEXT_BODY_LIMIT else text[:TEXT_BODY_LIMIT] + "..."
        return f"{len(body)} bytes\n    " + shown.rstrip("\n").replace("\n", "\n    ")
    summary = f"{len(body)} bytes {content_type or 'binary'}"
    if lowered.get("content-encoding") == "snappy":
        import cramjam

        try:
            decoded = bytes(cramjam.snappy.decompress_raw(body))
        except cramjam.DecompressionError:
            return summary + " (not valid snappy)"
        summary += f", {len(decoded)} bytes decoded"
        if content_type.startswith("application/x-protobuf"):
            summary += _read_response_summary(decoded)
    return summary


def _read_response_summary(decoded: bytes) -> str:
    from google.protobuf.message import DecodeError

    from prompb import remote_pb2

    message = remote_pb2.ReadResponse()
    try:
        message.ParseFromString(decoded)
    except DecodeError:
        return ""
    series = sum(len(result.timeseries) for result in message.results)
    samples = sum(len(ts.samples) for result in message.results for ts in result.timeseries)
    return f": ReadResponse with {len(message.results)} result(s), {series} series, {samples} samples"
