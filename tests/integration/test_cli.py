"""`python -m connector serve --local`: what `make run` starts, driven as a user would."""

from __future__ import annotations

import http.client
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from emulator.testing import scalar_rows
from tests.helpers import WRITE_HEADERS, basic_auth, write_body

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--local", "--port", "0", "--data", str(tmp_path / "data")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        # readline() blocks while the child is silent: a reader thread hands lines over, and the wait
        # for each is bounded by what is left of the 60 s, so a stuck child fails the test cleanly.
        received: queue.Queue[str] = queue.Queue()
        stdout = process.stdout

        def pump() -> None:
            for text in stdout:
                received.put(text)
            received.put("")  # EOF

        threading.Thread(target=pump, name="serve-local-stdout", daemon=True).start()
        deadline = time.monotonic() + 60
        while True:
            left = deadline - time.monotonic()
            try:
                line = received.get(timeout=max(0.0, left))
            except queue.Empty:
                pytest.fail("no snippet within 60 s; output so far:\n" + "\n".join(lines))
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "read_recent" in line:
                break
        match = re.search(r"listening on (http://\S+)", "\n".join(lines))
        assert match, "\n".join(lines)
        yield match.group(1), lines
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_local_prints_a_working_prometheus_snippet(local_server: tuple[str, list[str]]) -> None:
    url, lines = local_server
    text = "\n".join(lines)
    assert f"url: {url}/write" in text and f"url: {url}/read" in text
    username = re.search(r"username: (\S+)", text).group(1)  # type: ignore[union-attr]
    password = re.search(r"password: (\S+)", text).group(1)  # type: ignore[union-attr]
    store_url = re.search(r"embedded store at (http://\S+?),", text).group(1)  # type: ignore[union-attr]

    now = int(time.time() * 1000)
    body = write_body([([("__name__", "cli_check"), ("job", "make-run")], [(now, 42.0)])])
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(
        "POST", "/write", body=body, headers={**WRITE_HEADERS, "Authorization": basic_auth(username, password)}
    )
    assert conn.getresponse().status == 204

    query = boto3.client(
        "timestream-query",
        endpoint_url=store_url,
        region_name="us-east-1",
        aws_access_key_id=username,
        aws_secret_access_key=password,
    )
    rows = scalar_rows(
        query,
        'SELECT job, "measure_value::double" FROM "PrometheusDatabase"."PrometheusMetricsTable"'
        " WHERE measure_name = 'cli_check'",
    )
    assert [(job, float(value)) for job, value in rows] == [("make-run", 42.0)]
