"""Memory per request is bounded by the decompressed-size limit and the per-request sample cap.

The bound, measured by ``memory_probe`` on the densest inputs protobuf allows (two bytes per message):

    peak growth <= 32 x MAX_BODY_BYTES  +  512 B x samples translated (at most 200,000)

32 x: the protobuf runtime spends about 29 bytes per byte of a maximally dense body (empty series,
labels or samples); realistic bodies cost far less (random bytes: 2 x, one giant label: 3 x). A 2.0
body's empty series cost about 41 bytes a byte, so 2.0 bodies get 3/4 of the limit (about 31 x).
512 B per sample covers records, call planning and boto3 request bodies (about 330 B measured). The
wire limit (10 MB) bounds nothing here by itself: snappy expands up to about 21 x, so it is the
decompressed limit that counts. Work is bounded too: series and samples per request are capped
(413) before translation, so no cheap body makes the connector build millions of records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from connector.prom.write_codec import MAX_SAMPLES_PER_REQUEST

LIMIT = 2 * 1024 * 1024
PARSE_FACTOR = 32
BYTES_PER_SAMPLE = 512
SLACK = 16 * 1024 * 1024  # interpreter and allocator noise around one request
ROOT = Path(__file__).resolve().parents[2]


def test_peak_memory_of_worst_case_bodies_stays_within_the_stated_bound() -> None:
    env = {**os.environ, "LOG_LEVEL": "ERROR", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "tests.robustness.memory_probe", str(LIMIT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"shape"')]
    assert len(results) == 14, run.stdout[-2000:]
    report = "\n".join(
        f"{r['shape']}: {r['status']} in {r['seconds']} s, {r['samples']} samples, "
        f"peak +{r['peak_bytes'] / 2**20:.1f} MiB ({r['peak_bytes'] / LIMIT:.1f} x limit)"
        for r in results
    )
    for r in results:
        bound = PARSE_FACTOR * LIMIT + BYTES_PER_SAMPLE * r["samples"] + SLACK
        assert r["status"] < 500, report
        assert r["peak_bytes"] <= bound, f"{r['shape']} exceeds {bound / 2**20:.0f} MiB\n{report}"
        assert r["seconds"] < 15, report
    statuses = {r["shape"]: r["status"] for r in results}
    assert statuses["empty series"] == 413 and statuses["empty samples over the cap"] == 413, report
    assert statuses["v2 empty series"] == 413 and statuses["v2 most samples, one series each"] == 204, report
    # A 2.0 body gets 3/4 of the limit, refused from the snappy header before it is parsed at 41 x.
    past_share = next(r for r in results if r["shape"] == "v2 empty series past the 2.0 share")
    assert past_share["status"] == 413 and "decompressed body would be" in past_share["reason"], report
    assert max(r["samples"] for r in results) > 100_000, "the probe should push a six-figure sample count through"
    assert MAX_SAMPLES_PER_REQUEST == 200_000  # the bound above is stated for this cap
