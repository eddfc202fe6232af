"""`python -m connector invoke`: the handler on the event files, in-process, against the embedded store."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from connector import handler
from connector.__main__ import main as cli
from connector.config import Settings
from connector.invoke import describe, main
from connector.prom import snappy
from tests.deploy.cfn import ROOT

EVENTS = ROOT / "events"


def test_invoke_local_runs_every_event_and_restores_the_environment(tmp_path: Path) -> None:
    before, cached = dict(os.environ), handler.install(None)
    handler.install(cached)
    out = io.StringIO()
    events = [EVENTS / name for name in ("write.json", "write-rest.json", "read.json", "read-rest.json")]
    status = main(events, Settings(), local=True, data_dir=tmp_path / "data", out=out)
    text = out.getvalue()
    assert text.count(": 204 in ") == 2, text
    assert "X-Prometheus-Remote-Write-Samples-Written: " in text
    read_lines = [line for line in text.splitlines() if line.startswith(str(EVENTS / "read"))]
    assert len(read_lines) == 2 and all(" 200 in " in line or " 501 in " in line for line in read_lines), text
    assert status == (0 if all(" 200 in " in line for line in read_lines) else 1)
    assert dict(os.environ) == before
    assert handler.install(cached) is cached
    assert any((tmp_path / "data").iterdir())  # --data keeps the store on disk


def test_invoke_rejects_a_missing_or_malformed_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main([tmp_path / "missing.json"], Settings()) == 2
    assert main([tmp_path / "bad.json"], Settings()) == 2
    assert "missing.json" in capsys.readouterr().err


def test_cli_dispatches_invoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AUTH_MODE", raising=False)
    assert cli(["invoke", str(EVENTS / "write.json"), "--local"]) == 0
    assert ": 204 in " in capsys.readouterr().out


def test_describe_decodes_snappy_protobuf_bodies() -> None:
    body = snappy.compress(b"")  # an empty ReadResponse
    response = {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(body).decode(),
                "headers": {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}}
    text = describe(Path("events/read.json"), response, 1.0)
    assert "events/read.json: 200 in 1 ms" in text
    assert "0 bytes decoded: ReadResponse with 0 result(s)" in text
    text_response = {"statusCode": 400, "isBase64Encoded": False, "body": "bad\n",
                     "headers": {"Content-Type": "text/plain"}}
    assert "    bad" in describe(Path("x.json"), text_response, 1.0)


def test_events_are_what_make_events_writes(tmp_path: Path) -> None:
    from deploy.make_events import SAMPLES, make_events

    for path in make_events(SAMPLES, tmp_path):
        assert json.loads(path.read_text()) == json.loads((EVENTS / path.name).read_text()), path.name


@pytest.mark.parametrize("keep", [False, True], ids=["fresh-store", "INVOKE_DATA"])
def test_make_invoke_reads_back_a_separate_write_only_with_invoke_data(keep: bool, tmp_path: Path) -> None:
    """Each `make invoke` starts its own store: a later read finds the write only when both keep data."""
    data = [f"INVOKE_DATA={tmp_path / 'data'}"] if keep else []
    for event in ("write.json", "read.json"):
        run = subprocess.run(["make", "--no-print-directory", "-s", "invoke", f"EVENT=events/{event}", *data],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    read_back = "ReadResponse with 1 result(s), 2 series" in run.stdout
    assert read_back is keep, run.stdout[-2000:]
