"""The backfill benchmark runs on a tiny data set against a real Prometheus and returns sane numbers.
No timing assertions; ``python -m bench --only backfill`` measures for real."""

from __future__ import annotations

import math
import shutil

import pytest

pytest.importorskip("duckdb")

from bench import backfill
from bench.store import StoreProcess
from tests.tools import missing

pytestmark = pytest.mark.e2e  # drives a real Prometheus


def test_backfill_section() -> None:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        missing("prometheus", "apt-get install -y prometheus")
    with StoreProcess() as store:
        section = backfill.run(store, series=8, samples=120, rounds=1)
    assert [row.unit for row in section.rows] == ["samples/s", "us", "samples/s"]
    assert all(math.isfinite(row.figure) and row.figure > 0 for row in section.rows)
    assert "8 series x 120 samples = 960" in section.details[0]
