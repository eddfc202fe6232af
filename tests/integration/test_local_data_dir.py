"""A second `serve --local --data DIR` on a directory another process holds stops with a sentence that
names the directory and the holder, not a DuckDB traceback, and leaves the first server serving."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from tests.integration.serve_process import serving, start


def test_second_server_on_the_same_data_directory_gets_a_readable_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(["--local", "--data", str(data)]) as first:
        second, _ = start(["--local", "--data", str(data)])
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        holder = f"(process {first.process.pid})"
        assert f"the data directory {data} is in use by another connector or invoke {holder}" in err
        assert "Traceback" not in err and "duckdb" not in err.lower()
        with urllib.request.urlopen(first.url + "/healthz", timeout=10) as reply:
            assert reply.status == 200 and reply.read() == b"ok\n"
