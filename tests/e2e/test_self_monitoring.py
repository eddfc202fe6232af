"""A stock Prometheus (CI's 2.42) configured with exactly the `prometheus.yml` lines `make run` prints
(Basic auth, the default mode) scrapes the connector's own `GET /metrics` and remote-writes and
remote-reads through it: both routes work, and Prometheus' own parser accepts the exposition."""

from __future__ import annotations

import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.serve_process import serving
from tests.tools import missing

from .harness import Prometheus, scalar_metrics

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 60.0
QUERY = 'timestream_connector_samples_written_total{job="connector"}'


def eventually(check: Callable[[], Any], what: str, diagnostics: Callable[[], str]) -> Any:
    """``check()``'s first truthy result, polled within a bounded wait (a guard, not a timing claim)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {WAIT_SECONDS} s\n{diagnostics()}")


def connector_metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as reply:
        return scalar_metrics(reply.read().decode())


def test_prometheus_scrapes_the_connector_and_uses_both_routes_with_the_printed_config(tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        missing("prometheus", "apt-get install -y prometheus")
    with serving(["--local"]) as served:
        host = served.url.removeprefix("http://")
        printed = yaml.safe_load(served.printed().split("Add to prometheus.yml:", 1)[1])
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "connector", "static_configs": [{"targets": [host]}]}],
            **printed,
        }
        config["remote_write"][0]["queue_config"] = {"batch_send_deadline": "1s"}
        prometheus = Prometheus("self-monitoring", tmp_path, lambda port: config).start()
        try:
            def written_and_answered() -> dict[str, float] | None:
                # Samples are counted just before the answer is: poll until both are, or the wait ends.
                found = connector_metrics(served.url)
                answered = found.get('timestream_connector_answers_total{route="write",status="2xx"}', 0)
                return found if found.get("timestream_connector_samples_written_total", 0) > 0 < answered else None

            metrics = eventually(written_and_answered, "a remote write answered 2xx by the connector",
                                 prometheus.diagnostics)
            # No failed sample: the counter is declared (a rename fails here) and has no series yet.
            with urllib.request.urlopen(served.url + "/metrics", timeout=10) as reply:
                assert "# TYPE timestream_connector_samples_failed_total counter" in reply.read().decode()
            assert not [k for k in metrics if k.startswith("timestream_connector_samples_failed_total")]

            def query() -> list[Any]:  # read_recent: every query also goes to the connector's /read
                answer = prometheus.api("query", [("query", QUERY)])
                return answer["data"]["result"]  # type: ignore[no-any-return]

            assert eventually(query, "the scraped series in a query", prometheus.diagnostics)
            reads = connector_metrics(served.url)
            assert reads['timestream_connector_answers_total{route="read",status="2xx"}'] > 0
        finally:
            prometheus.stop()

