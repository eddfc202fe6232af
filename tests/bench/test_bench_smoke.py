"""Each benchmark runs on tiny inputs and returns sane numbers. No timing assertions: the figures
of a shared machine say nothing at this size; ``make bench`` measures for real."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

pytest.importorskip("duckdb")

from bench import billing, coldstart, cpu, latency, memory, report, server
from bench.__main__ import main
from bench.common import Row, Section, formula_write_units, repeated_calls
from bench.store import StoreProcess
from connector.timestream.planning import plan_calls
from connector.timestream.records import record


@pytest.fixture(scope="module")
def store() -> Iterator[StoreProcess]:
    with StoreProcess() as running:
        yield running


def _sane(section: Section, rows: int) -> None:
    assert len(section.rows) == rows
    for row in section.rows:
        assert math.isfinite(row.figure) and row.figure > 0, row
        if row.baseline is not None:
            assert math.isfinite(row.baseline) and row.baseline > 0, row
        if row.ratio is not None:
            assert math.isfinite(row.ratio) and row.ratio > 0, row
        if row.target:
            assert row.passed is not None
    assert section.details


def test_cpu() -> None:
    section = cpu.run(target_samples=300, rounds=1, profile=True)
    _sane(section, 6)
    assert any("2.0" in row.name and row.baseline for row in section.rows)  # 2.0 against 1.0, same data
    assert any("parse only" in row.name for row in section.rows)  # the floor the others are read against


def test_billing(store: StoreProcess) -> None:
    section = billing.run(store)
    _sane(section, 2)
    row = section.rows[0]
    assert row.ratio is not None and row.ratio < 1  # CommonAttributes can only lower the bill
    assert any("(formula: " in line for line in section.details)
    assert section.rows[1].figure <= row.figure  # no plan bills below its bytes without rounding
    assert not any("WARNING" in line for line in section.details)


def test_latency(store: StoreProcess) -> None:
    section = latency.run(store, sizes=(200,), rounds=(1,), latency_ms=1, series_per_scrape=100)
    _sane(section, 2)
    assert section.rows[0].target and section.rows[1].target  # the store-bound and the connector-alone targets


def test_coldstart() -> None:
    section = coldstart.run(runs=1, importtime=True)
    _sane(section, 2)


def test_memory(store: StoreProcess) -> None:
    section = memory.run(store, target_bytes=40_000)
    _sane(section, 2)


def test_server() -> None:
    section = server.run(requests=5, connects=4, rounds=1)
    _sane(section, 2)
    assert section.rows[1].unit == "connects" and section.rows[1].figure <= 4


def test_formula_matches_layouts() -> None:
    records = [record((("instance", "a"), ("job", "j"), ("q", str(i))), "metric", 1000, "1.0") for i in range(150)]
    repeated = [formula_write_units(c.parameters("d", "t")) for c in repeated_calls(records)]
    common = [formula_write_units(c.parameters("d", "t")) for c in plan_calls(records)]
    # one record alone: 8 time + "instance"+"a" + "job"+"j" + "q"+"0" + "metric" + 8 value
    assert formula_write_units(repeated_calls(records[:1])[0].parameters("d", "t")) == (8 + 9 + 4 + 2 + 6 + 8, 1)
    assert len(repeated) == len(common) == 2
    assert sum(b for b, _ in common) < sum(b for b, _ in repeated)


def test_report(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rows = [Row("a", 1.5, "us", 1.0, "floor", 1.5, "ratio <= 3", True), Row("b", 2.0, "ms")]
    assert "PASS" in report.text_table(rows) and "INFO" in report.text_table(rows)
    monkeypatch.setattr(report, "RESULTS", tmp_path / "RESULTS.md")
    path = report.write_results([Section("S", rows, ["x"])], [cpu], report.started_now(), 1.0, report.machine())
    text = path.read_text()
    assert "| a | 1.50 µs |" in text and "nproc" in text and "make bench" in text


def test_main_refuses_quick_results() -> None:
    with pytest.raises(SystemExit):
        main(["--quick", "--write-results"])
    with pytest.raises(SystemExit):
        main(["--only", "nonsense"])
