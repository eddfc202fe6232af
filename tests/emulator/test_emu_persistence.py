"""Data under a data directory survives a restart; concurrent writers are safe."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, make_record, now_ms, scalar_rows


def test_data_survives_restart(tmp_path: Path, credentials: dict[str, str]) -> None:
    key = next(iter(credentials.items()))
    t = now_ms()
    with EmbeddedTimestream(data_dir=tmp_path, credentials=credentials) as store:
        store.create_database_and_table("db", "tbl", memory_retention_hours=24)
        write, _ = boto3_clients(store, *key)
        write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record("up", "0.1", t, {"job": "a"})])
    with EmbeddedTimestream(data_dir=tmp_path, credentials=credentials) as store:
        write, query = boto3_clients(store, *key)
        table = write.describe_table(DatabaseName="db", TableName="tbl")["Table"]
        assert table["RetentionProperties"]["MemoryStoreRetentionPeriodInHours"] == 24
        assert scalar_rows(query, 'SELECT job, to_milliseconds(time), "measure_value::double" FROM "db"."tbl"') == [
            ["a", str(t), "0.1"]
        ]
        # versions survive too: a conflicting value is still rejected, new dimensions still appear
        try:
            write.write_records(DatabaseName="db", TableName="tbl", Records=[make_record("up", "0.2", t, {"job": "a"})])
            raise AssertionError("expected a rejection")
        except write.exceptions.RejectedRecordsException as error:
            assert error.response["RejectedRecords"][0]["ExistingVersion"] == 1
        write.write_records(
            DatabaseName="db", TableName="tbl", Records=[make_record("up", "1", t, {"job": "a", "zone": "z"})]
        )
        assert [r[0] for r in scalar_rows(query, 'DESCRIBE "db"."tbl"')][:2] == ["job", "zone"]


def test_concurrent_writers(store: EmbeddedTimestream, credentials: dict[str, str]) -> None:
    key = next(iter(credentials.items()))
    base = now_ms() - 10_000
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        write, _ = boto3_clients(store, *key)
        try:
            for batch in range(5):
                records = [
                    make_record("m", str(i), base + batch * 100 + i, {"worker": str(worker), f"w{worker}": "x"})
                    for i in range(100)
                ]
                write.write_records(DatabaseName="db", TableName="tbl", Records=records)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a writer never finished"
    assert errors == []
    _, query = boto3_clients(store, *key)
    got = scalar_rows(query, 'SELECT worker, count(*) FROM "db"."tbl" GROUP BY worker ORDER BY worker')
    assert got == [[str(w), "500"] for w in range(4)]
    assert store.stats()["records_written"] == 2000


def test_command_line_server(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--data",
            str(tmp_path),
            "--access-key",
            "AKIDCLI:cli-secret",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" on ")[1].split(" ")[0]
        with urllib.request.urlopen(url + "/__admin/health", timeout=5) as response:
            assert response.status == 200
        store = _Remote(url)
        write, _ = boto3_clients(store, "AKIDCLI", "cli-secret")  # type: ignore[arg-type]
        write.create_database(DatabaseName="clidb")
        assert (tmp_path / "timestream-emulator.duckdb").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


class _Remote:
    """Just enough of EmbeddedTimestream for ``boto3_clients`` to aim at another process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.region = "us-east-1"
