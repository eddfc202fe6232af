"""The backfill command as a child process, and what its tests compare: a remote read of Prometheus'
own samples and of the embedded store the backfill wrote, as 64-bit patterns."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import struct
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from connector.prom import snappy
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, scalar_rows
from prompb import remote_pb2, types_pb2
from tests import chunks_reference as ref

from .conftest import ACCESS_KEY_ID, DATABASE, SECRET_ACCESS_KEY, TABLE

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 240.0
Answer = dict[ref.Labels, list[ref.BitsSample]]


def command_env(**extra: str) -> dict[str, str]:
    """The backfill's environment: the e2e table, the e2e key pair for the embedded store, quiet logs."""
    return {
        **os.environ,
        "DEFAULT_DATABASE": DATABASE,
        "DEFAULT_TABLE": TABLE,
        "LOCAL_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "LOCAL_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def argv(source: str, start_ms: int, end_ms: int, *more: str) -> list[str]:
    """``backfill`` of everything ``source`` has in ``[start_ms, end_ms)``, times as Unix seconds."""
    return [
        sys.executable, "-m", "connector", "backfill", "--from", source, "--match", '{__name__=~".+"}',
        "--start", f"{start_ms / 1000:.3f}", "--end", f"{end_ms / 1000:.3f}", *more,
    ]  # fmt: skip


def run(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=cwd, env=env or command_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


def start(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        list(args), cwd=cwd, env=env or command_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished_ranges(checkpoint: Path) -> list[list[int]]:
    """The ``[start, end)`` ranges a checkpoint file records (none while there is no file)."""
    try:
        return [list(pair) for pair in json.loads(checkpoint.read_text(encoding="utf-8"))["done"]]
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def opened(data_dir: Path) -> Iterator[EmbeddedTimestream]:
    """The embedded store on the backfill's data directory (after the backfill has exited)."""
    store = EmbeddedTimestream(data_dir=data_dir, credentials={ACCESS_KEY_ID: SECRET_ACCESS_KEY}).start()
    try:
        yield store
    finally:
        store.stop()


def row_count(store: EmbeddedTimestream) -> int:
    _, query = boto3_clients(store, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    ((count,),) = scalar_rows(query, f'SELECT COUNT(*) FROM "{DATABASE}"."{TABLE}"')
    return int(count or 0)


def everything(start_ms: int, end_ms: int) -> remote_pb2.Query:
    """Every series in ``[start_ms, end_ms)`` (remote read's bounds are inclusive)."""
    return remote_pb2.Query(
        start_timestamp_ms=start_ms,
        end_timestamp_ms=end_ms - 1,
        matchers=[types_pb2.LabelMatcher(type=types_pb2.LabelMatcher.RE, name="__name__", value=".+")],
    )


def post_read(url: str, query: remote_pb2.Query, accepted: Sequence[int], auth: bool = False) -> tuple[str, bytes]:
    request = remote_pb2.ReadRequest(queries=[query], accepted_response_types=accepted)
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
    if auth:
        pair = base64.b64encode(f"{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    http_request = urllib.request.Request(
        url, data=snappy.compress(request.SerializeToString()), method="POST", headers=headers
    )
    with urllib.request.urlopen(http_request, timeout=60) as response:
        return response.headers["Content-Type"], response.read()


def samples_answer(url: str, query: remote_pb2.Query, auth: bool = False) -> Answer:
    """A SAMPLES remote read as label set -> [(time, value bits)]."""
    content_type, body = post_read(url, query, [remote_pb2.ReadRequest.SAMPLES], auth)
    assert content_type == "application/x-protobuf", content_type
    (result,) = remote_pb2.ReadResponse.FromString(snappy.decompress(body, 1 << 30)).results
    answer: Answer = {}
    for series in result.timeseries:
        labels = tuple((label.name, label.value) for label in series.labels)
        values = [sample.value for sample in series.samples]
        patterns = struct.unpack(f"<{len(values)}Q", struct.pack(f"<{len(values)}d", *values))
        answer[labels] = list(zip([sample.timestamp for sample in series.samples], patterns, strict=True))
    return answer


def streamed_answer(url: str, query: remote_pb2.Query, auth: bool = False) -> Answer:
    """A STREAMED_XOR_CHUNKS remote read, read with the independent reference reader."""
    accepted = [remote_pb2.ReadRequest.STREAMED_XOR_CHUNKS, remote_pb2.ReadRequest.SAMPLES]
    _, stream = post_read(url, query, accepted, auth)
    return {labels: samples for (_, labels), samples in ref.series_samples(ref.check_stream(stream)).items()}


def sample_count(answer: Answer) -> int:
    return sum(len(samples) for samples in answer.values())


def summary_numbers(stdout: str) -> dict[str, Any]:
    """The counts of the summary's ``windows:`` and ``samples:`` lines."""
    found: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith(("windows:", "samples:")):
            head, _, rest = line.partition(":")
            for part in rest.replace(";", ",").split(","):
                words = part.split()
                if len(words) >= 2 and words[0].isdigit():
                    found[f"{head} {words[1]}"] = int(words[0])
    return found
