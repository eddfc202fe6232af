"""Session fixtures for the end-to-end tests: store, connector, scrape target, Prometheus A and B.

Everything starts once per session and listens on loopback ports of its own; each Prometheus
has a data directory and a log file under pytest's temporary directory. On a failing e2e test the
tails of both Prometheus logs are attached to the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connector.app import Connector
from connector.config import Settings
from connector.server import ConnectorServer
from tests.tools import missing

from .harness import Prometheus, PrometheusError, metric_sum, scalar_metrics
from .target import ScrapeTarget

ACCESS_KEY_ID = "AKIAE2ETESTPROMETHEUS"
SECRET_ACCESS_KEY = "e2e/secret+key=with:colon"
DATABASE = "e2e_database"
TABLE = "e2e_metrics"
EXTERNAL_LABELS = {"replica": "a", "cluster": "e2e"}

# How long Prometheus A scrapes before the compared window closes: long enough for every
# appearance/disappearance of the target (see target.py, all before 26 s) plus rate windows.
RUN_SECONDS = 37.0
# The compared window starts this long after A is ready (its first scrapes) ...
WINDOW_START_DELAY_S = 6.0
# ... and ends this long before the cut after which we wait for remote write to catch up.
WINDOW_END_MARGIN_S = 4.0
# After the cut, remote write must have sent samples this much newer than the cut.
FLUSH_MARGIN_S = 2.0
FLUSH_TIMEOUT_S = 90.0

# Self-scrape of A keeps a small, varied subset: the full set (~1000 series) would only make the
# single remote-write shard slower without testing anything new.
SELF_SCRAPE_KEEP = (
    "go_goroutines|go_gc_duration_seconds.*|prometheus_build_info|prometheus_tsdb_head_series"
    "|prometheus_http_requests_total|prometheus_remote_storage_.*"
)

RECORDING_RULES = {
    "groups": [
        {
            "name": "e2e",
            "interval": "1s",
            "rules": [
                # A name with colons: stored with a stand-in measure_name (schema.py).
                {"record": "job:e2e_requests:rate10s", "expr": "sum by (job) (rate(e2e_requests_total[10s]))"},
                # Produces nothing while no ephemeral series exists: the rule writes staleness markers.
                {"record": "e2e:ephemeral:count", "expr": "count(e2e_ephemeral)"},
            ],
        }
    ]
}

_DIAGNOSTICS: list[Callable[[], str]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _DIAGNOSTICS:
        for diagnostics in _DIAGNOSTICS:
            try:
                text = diagnostics()
            except Exception as exc:  # diagnostics must never hide the real failure
                text = f"<diagnostics failed: {exc!r}>"
            report.sections.append(("e2e diagnostics", text))


@dataclass
class Backend:
    """The embedded store and the connector's local server in front of it."""

    store: object
    server: ConnectorServer
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    def query_client(self) -> object:
        import boto3

        return boto3.client(
            "timestream-query",
            endpoint_url=self.settings.query_endpoint,
            region_name=self.settings.region,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def store() -> Iterator[object]:
    try:
        from emulator.server import EmbeddedTimestream
    except ImportError as exc:  # the store is part of this project: its absence is a failure
        pytest.fail(f"the embedded Timestream store (emulator.server.EmbeddedTimestream) is missing: {exc}")
    embedded = EmbeddedTimestream(data_dir=None, credentials={ACCESS_KEY_ID: SECRET_ACCESS_KEY}).start()
    try:
        # 24 h of memory store: nothing Prometheus sends in this test is ever too old.
        embedded.create_database_and_table(DATABASE, TABLE, memory_retention_hours=24)
        yield embedded
    finally:
        embedded.stop()


@contextlib.contextmanager
def running_connector(store: object) -> Iterator[Backend]:
    """A connector's local server (its own Connector: own client and column caches) on ``store``."""
    url = store.url  # type: ignore[attr-defined]
    settings = dataclasses.replace(Settings(), database=DATABASE, table=TABLE, write_endpoint=url, query_endpoint=url)
    server = ConnectorServer(("127.0.0.1", 0), Connector(settings))
    server.start_background()
    try:
        yield Backend(store, server, settings)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def backend(store: object) -> Iterator[Backend]:
    """The connector Prometheus A writes to and Prometheus B reads from."""
    with running_connector(store) as running:
        yield running


@dataclass
class PrometheusRun:
    """Prometheus A (scrapes, remote-writes) and B (remote-reads only) after A has run a while."""

    a: Prometheus
    b: Prometheus
    target: ScrapeTarget
    backend: Backend
    target_started: float
    a_ready: float
    cut: float
    window_start: int
    window_end: int
    remote_write_metrics: dict[str, float]

    def at(self, seconds_after_target_start: float) -> float:
        """An evaluation time on the target's timeline, clamped into the compared window."""
        t = self.target_started + seconds_after_target_start
        return min(max(t, self.window_start), self.window_end)


def _basic_auth() -> dict[str, str]:
    return {"username": ACCESS_KEY_ID, "password": SECRET_ACCESS_KEY}


def prometheus_a_config(target: str, self_port: int, connector_url: str) -> dict[str, object]:
    return {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "evaluation_interval": "1s",
            "external_labels": EXTERNAL_LABELS,
        },
        "scrape_configs": [
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [f"127.0.0.1:{self_port}"]}],
                "metric_relabel_configs": [
                    {"source_labels": ["__name__"], "regex": SELF_SCRAPE_KEEP, "action": "keep"}
                ],
            },
            {"job_name": "target", "static_configs": [{"targets": [target]}]},
        ],
        "remote_write": [
            {
                "url": f"{connector_url}/write",
                "basic_auth": _basic_auth(),
                "remote_timeout": "30s",
                "queue_config": {
                    "batch_send_deadline": "1s",
                    "max_samples_per_send": 500,
                    "min_backoff": "50ms",
                    "max_backoff": "1s",
                    # One shard sends in WAL order, so "highest sent timestamp >= t" means every
                    # sample up to t (minus scrape jitter, covered by FLUSH_MARGIN_S) was stored.
                    "min_shards": 1,
                    "max_shards": 1,
                },
                "metadata_config": {"send": True, "send_interval": "10s"},
            }
        ],
        # Deliberately no remote_read: A answers from its local TSDB only.
    }


def prometheus_b_config(connector_url: str) -> dict[str, object]:
    return {
        "global": {"external_labels": EXTERNAL_LABELS},
        "remote_read": [
            {
                "url": f"{connector_url}/read",
                "basic_auth": _basic_auth(),
                "read_recent": True,
                "remote_timeout": "30s",
            }
        ],
        # Deliberately no scrape_configs and no rules: B has no local data at all.
    }


def _start(prometheus: Prometheus, attempts: int = 3) -> None:
    """Start on a free port; retry on a new port if another process grabbed it meanwhile."""
    for attempt in range(attempts):
        try:
            prometheus.start()
            return
        except PrometheusError:
            prometheus.stop()
            if attempt == attempts - 1 or "address already in use" not in prometheus.diagnostics():
                raise


def _wait_for_remote_write(a: Prometheus, cut: float) -> dict[str, float]:
    """Wait until A's single queue has sent samples newer than ``cut``; return A's remote-write metrics."""
    deadline = time.monotonic() + FLUSH_TIMEOUT_S
    metrics: dict[str, float] = {}
    while time.monotonic() < deadline:
        if not a.alive():
            raise PrometheusError(f"prometheus A died while remote-writing\n{a.diagnostics()}")
        metrics = {k: v for k, v in scalar_metrics(a.metrics_text()).items() if "remote_storage" in k}
        sent = metric_sum(metrics, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds", default=0.0)
        if sent >= cut + FLUSH_MARGIN_S:
            return metrics
        time.sleep(0.25)
    raise PrometheusError(
        f"remote write did not catch up within {FLUSH_TIMEOUT_S}s of the cut {cut:.3f}: "
        f"{sorted(metrics.items())}\n{a.diagnostics()}"
    )


@pytest.fixture(scope="session")
def prometheus_run(backend: Backend, e2e_dir: Path) -> Iterator[PrometheusRun]:
    if shutil.which("prometheus") is None:
        missing("prometheus", "apt-get install -y prometheus")
    target = ScrapeTarget().start()
    a = b = None
    diagnostics: Callable[[], str] | None = None
    try:
        a = Prometheus(
            "prometheus-a",
            e2e_dir,
            lambda port: prometheus_a_config(target.address, port, backend.url),
            rules=RECORDING_RULES,
        )
        b = Prometheus("prometheus-b", e2e_dir, lambda port: prometheus_b_config(backend.url))
        pair = (a, b)

        def diagnostics() -> str:
            return "\n".join(p.diagnostics() for p in pair)

        _DIAGNOSTICS.append(diagnostics)
        _start(a)
        # The target's appearances and disappearances are timed from A's readiness, however long
        # A took to start, so they always fall inside the compared window.
        a_ready = target.restart_clock()
        _start(b)
        time.sleep(max(0.0, a_ready + RUN_SECONDS - time.time()))
        cut = time.time()
        remote_write_metrics = _wait_for_remote_write(a, cut)
        yield PrometheusRun(
            a=a,
            b=b,
            target=target,
            backend=backend,
            target_started=target.started,
            a_ready=a_ready,
            cut=cut,
            window_start=math.ceil(a_ready + WINDOW_START_DELAY_S),
            window_end=math.floor(cut - WINDOW_END_MARGIN_S),
            remote_write_metrics=remote_write_metrics,
        )
    finally:
        for prometheus in (a, b):
            if prometheus is not None:
                prometheus.stop()
        target.stop()
        if diagnostics is not None:
            _DIAGNOSTICS.remove(diagnostics)
