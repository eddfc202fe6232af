"""PromQL over remote read gives exactly what PromQL over local storage gives.

Prometheus A scrapes itself and a target (tests/e2e/target.py), evaluates two recording rules and
remote-writes everything to the connector. Prometheus B has no scrape jobs and no rules; it
remote-reads from the connector with ``read_recent: true``. Both carry the same external labels,
so B strips from remote-read results exactly the labels A added when it wrote them. Every query
below runs against both through the HTTP API at fixed evaluation times inside a window that ended
well before the last sample A has flushed, and the answers must be identical: the same label sets,
the same timestamps and the same value text (bit-identical doubles; NaN equals NaN). No tolerance
is applied anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from .compare import diff_series, normalise, show
from .conftest import EXTERNAL_LABELS, PrometheusRun
from .harness import Prometheus, metric_sum, scalar_metrics
from .target import EPHEMERAL_1, EPHEMERAL_2, FLAP_GAP, QUOTED_PATH, RESET_AT, SHIFT_AT, SQL_PATH, UNICODE_ROOM

pytestmark = pytest.mark.e2e


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal (Go escaping) for ``value``."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass(frozen=True)
class Q:
    expr: str
    # What the query exercises, shown as the test id.
    id: str
    # False for queries that must answer nothing (anchoring, labels never written).
    nonempty: bool = True
    range: bool = True


QUERIES: list[Q] = [
    # Plain selectors and label sets with awkward values.
    Q("e2e_requests_total", "plain-counter"),
    Q("e2e_bytes_total", "plain-float-counter"),
    Q("e2e_temperature_celsius", "plain-gauge-unicode"),
    Q(f"e2e_temperature_celsius{{room={promql_string(UNICODE_ROOM)}}}", "eq-unicode-quote-backslash-newline"),
    Q(f"e2e_requests_total{{path={promql_string(QUOTED_PATH)}}}", "eq-quote-backslash"),
    Q(f"e2e_requests_total{{path={promql_string(SQL_PATH)}}}", "eq-sql-quote-percent-underscore"),
    Q("e2e_special", "nan-inf-negzero-denormal"),
    Q("e2e_special * 2", "arith-on-specials"),
    Q("max_over_time(e2e_special[5s])", "max-over-time-specials"),
    Q("e2e_rpc_seconds", "summary-with-nan-quantile"),
    Q("e2e_rpc_seconds_sum / e2e_rpc_seconds_count", "summary-mean"),
    Q("e2e_latency_seconds_bucket", "histogram-buckets"),
    Q("e2e_latency_seconds_sum / e2e_latency_seconds_count", "binary-op-one-to-one"),
    # Selectors without a metric name and matchers on __name__.
    Q('{job="target"}', "no-name-job"),
    Q('{job="target", __name__!~"e2e_.*"}', "no-name-negative-regex"),
    Q('{__name__=~"e2e_requests_total|e2e_bytes_total"}', "name-regex-alternation"),
    Q('{__name__=~"e2e_.*", code="500"}', "name-regex-plus-label"),
    Q('{__name__="e2e_requests_total", method!="get"}', "name-eq-neq"),
    Q('{__name__=~"e2e_requests"}', "name-regex-anchored-prefix", nonempty=False),
    # Regex and negative matchers: anchored, a missing label is "".
    Q('e2e_requests_total{code=~"2.."}', "regex"),
    Q('e2e_requests_total{code=~"0"}', "regex-anchored", nonempty=False),
    Q('e2e_requests_total{code=~"20|50"}', "regex-anchored-alternation", nonempty=False),
    Q('e2e_requests_total{method!~"g.*"}', "negative-regex"),
    Q('e2e_requests_total{code!="200"}', "neq"),
    Q('e2e_requests_total{path=""}', "eq-empty-means-absent"),
    Q('e2e_requests_total{path!=""}', "neq-empty-requires-label"),
    Q('e2e_requests_total{path=~".*"}', "regex-dotstar-includes-absent"),
    Q('e2e_requests_total{path=~".+"}', "regex-dotplus-requires-label"),
    Q('e2e_requests_total{path!~"/a.*"}', "negative-regex-keeps-absent"),
    Q('e2e_requests_total{path!="/nothing"}', "neq-keeps-absent"),
    Q('e2e_requests_total{path=~"/it\'s_1.*"}', "regex-sql-quote"),
    Q('e2e_requests_total{path=~"/it.s.100."}', "regex-dots-match-quote-underscore-percent"),
    Q('e2e_requests_total{path=~".*\\\\\\\\back"}', "regex-escaped-backslash"),
    Q('e2e_temperature_celsius{room=~"Zür.*"}', "regex-dot-excludes-newline", nonempty=False),
    Q('e2e_temperature_celsius{room=~"(?s)Zür.*"}', "regex-s-flag-newline"),
    Q('e2e_temperature_celsius{room!~"k.*"}', "negative-regex-unicode"),
    Q('e2e_requests_total{never_written="x"}', "label-never-written-eq", nonempty=False),
    Q('e2e_requests_total{never_written=""}', "label-never-written-empty"),
    Q('e2e_requests_total{never_written!="x"}', "label-never-written-neq"),
    Q('e2e_requests_total{never_written=~"x.*"}', "label-never-written-regex", nonempty=False),
    Q("e2e_metric_never_written", "metric-never-written", nonempty=False),
    Q("absent(e2e_metric_never_written)", "absent-never-written"),
    # Functions and aggregations.
    Q("rate(e2e_requests_total[10s])", "rate"),
    Q("increase(e2e_requests_total[15s])", "increase"),
    Q("rate(e2e_bytes_total[5s])", "rate-float-counter"),
    Q("resets(e2e_resets_total[30s])", "resets"),
    Q("rate(e2e_resets_total[10s])", "rate-across-reset"),
    Q("histogram_quantile(0.9, sum by (le) (rate(e2e_latency_seconds_bucket[10s])))", "histogram-quantile-sum-by-le"),
    Q("histogram_quantile(0.5, rate(e2e_latency_seconds_bucket[10s]))", "histogram-quantile-per-handler"),
    Q("sum by (code) (e2e_requests_total)", "sum-by"),
    Q("sum without (method) (rate(e2e_requests_total[10s]))", "sum-without"),
    Q("count(e2e_requests_total)", "count"),
    Q('count by (__name__) ({job="target"})', "count-by-name"),
    Q("topk(2, e2e_temperature_celsius)", "topk"),
    Q("bottomk(1, e2e_requests_total)", "bottomk"),
    Q("e2e_requests_total offset 5s", "offset"),
    Q("max_over_time(rate(e2e_bytes_total[5s])[10s:2s])", "subquery"),
    # Series that appear and disappear: these depend on lossless staleness markers.
    Q("e2e_flapping", "stale-plain-flapping"),
    Q("e2e_ephemeral", "stale-plain-ephemeral"),
    Q("e2e_shifting", "stale-plain-label-change"),
    Q("timestamp(e2e_flapping)", "stale-timestamp"),
    Q("absent(e2e_ephemeral)", "stale-absent"),
    Q("count_over_time(e2e_ephemeral[5s])", "count-over-time-ephemeral"),
    Q("count_over_time(e2e_flapping[4s])", "count-over-time-flapping"),
    Q("last_over_time(e2e_flapping[30s])", "last-over-time-flapping"),
    Q("changes(e2e_shifting[10s])", "changes-label-change"),
    # Recording rules: a name with colons, and a rule whose output goes stale.
    Q("job:e2e_requests:rate10s", "rule-colon-name"),
    Q('{__name__=~"job:.*"}', "rule-colon-name-regex"),
    Q("e2e:ephemeral:count", "rule-stale"),
    # Prometheus' own metrics and the synthetic series of every scrape.
    Q("up", "up"),
    Q('scrape_samples_scraped{job="target"}', "scrape-samples"),
    Q("prometheus_tsdb_head_series", "self-gauge"),
    Q("rate(prometheus_http_requests_total[10s])", "self-rate"),
    Q("go_gc_duration_seconds", "self-summary"),
]

# Seconds after the target started: around each appearance and disappearance (see target.py).
INSTANT_OFFSETS = (
    EPHEMERAL_1[0] + 1.3,
    FLAP_GAP[0] + 0.6,
    EPHEMERAL_2[0] + 1.2,
    SHIFT_AT + 0.4,
    EPHEMERAL_1[1] + 1.7,
    FLAP_GAP[1] + 0.5,
    RESET_AT + 2.1,
    EPHEMERAL_2[1] + 0.9,
    EPHEMERAL_2[1] + 2.6,
)


def instant_times(run: PrometheusRun) -> list[float]:
    times = {round(run.at(offset), 3) for offset in INSTANT_OFFSETS}
    times.add(float(run.window_end))
    return sorted(times)


def range_specs(run: PrometheusRun) -> list[tuple[float, float, float]]:
    """(start, end, step): aligned 1 s steps, and 3 s steps off the second boundaries."""
    return [
        (float(run.window_start), float(run.window_end), 1.0),
        (run.window_start + 0.5, run.window_end - 0.25, 3.0),
    ]


def _warnings(payload: dict) -> list[str]:
    return [str(w) for w in payload.get("warnings") or []]


def _compare(run: PrometheusRun, endpoint: str, params: Sequence[tuple[str, str]], what: str) -> tuple[str, bool]:
    """('' or a description of the difference, whether A answered anything)."""
    answer_a = run.a.api(endpoint, params)
    answer_b = run.b.api(endpoint, params)
    problems = []
    for name, answer in (("A", answer_a), ("B", answer_b)):
        if _warnings(answer):
            problems.append(f"{name} warned (a failed remote read can leave results partial): {_warnings(answer)}")
    kind_a, series_a = normalise(answer_a)
    kind_b, series_b = normalise(answer_b)
    if kind_a != kind_b:
        problems.append(f"result types differ: A={kind_a} B={kind_b}")
    diff = diff_series(series_a, series_b, ("A(local)", "B(remote read)"))
    if diff:
        problems.append(diff)
    described = f"{what}:\n" + "\n".join(problems) if problems else ""
    return described, bool(series_a)


@pytest.mark.parametrize("q", QUERIES, ids=[q.id for q in QUERIES])
def test_instant_query(prometheus_run: PrometheusRun, q: Q) -> None:
    problems, answered = [], False
    for t in instant_times(prometheus_run):
        diff, nonempty = _compare(prometheus_run, "query", [("query", q.expr), ("time", f"{t:.3f}")], f"@{t:.3f}")
        answered |= nonempty
        if diff:
            problems.append(diff)
    assert not problems, f"instant query {q.expr!r} differs between A and B\n" + "\n".join(problems[:3])
    _check_vacuity(q, answered)


@pytest.mark.parametrize("q", [q for q in QUERIES if q.range], ids=[q.id for q in QUERIES if q.range])
def test_range_query(prometheus_run: PrometheusRun, q: Q) -> None:
    problems, answered = [], False
    for start, end, step in range_specs(prometheus_run):
        params = [("query", q.expr), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"), ("step", f"{step:g}")]
        diff, nonempty = _compare(prometheus_run, "query_range", params, f"[{start:.3f}, {end:.3f}] step {step:g}s")
        answered |= nonempty
        if diff:
            problems.append(diff)
    assert not problems, f"range query {q.expr!r} differs between A and B\n" + "\n".join(problems)
    _check_vacuity(q, answered)


def _check_vacuity(q: Q, answered: bool) -> None:
    if q.nonempty:
        assert answered, f"A answered nothing to {q.expr!r}: the comparison would prove nothing"
    else:
        assert not answered, f"A answered {q.expr!r}, which this test expects to select nothing"


SERIES_MATCHERS = [
    ['{job="target"}'],
    ["e2e_requests_total", "e2e_special"],
    ['{__name__=~"e2e_(ephemeral|flapping|shifting)"}'],
    ['e2e_requests_total{path=""}'],
    ['{__name__=~"job:.*|e2e:.*"}'],
]


@pytest.mark.parametrize("matchers", SERIES_MATCHERS, ids=["|".join(m) for m in SERIES_MATCHERS])
def test_series_endpoint(prometheus_run: PrometheusRun, matchers: list[str]) -> None:
    run = prometheus_run
    params = [("match[]", m) for m in matchers]
    params += [("start", str(run.window_start)), ("end", str(run.window_end))]
    answers = {}
    for name, prometheus in (("A", run.a), ("B", run.b)):
        payload = prometheus.api("series", params)
        assert not _warnings(payload), f"{name} warned: {_warnings(payload)}"
        answers[name] = {tuple(sorted(s.items())) for s in payload["data"]}
    assert answers["A"], f"A knows no series for {matchers}"
    only_a, only_b = answers["A"] - answers["B"], answers["B"] - answers["A"]
    assert not (only_a or only_b), (
        f"/api/v1/series {matchers} differs: {len(only_a)} only in A, {len(only_b)} only in B\n"
        + "\n".join(f"  only in A: {show(k)}" for k in sorted(only_a)[:5])
        + "\n"
        + "\n".join(f"  only in B: {show(k)}" for k in sorted(only_b)[:5])
    )


def _label_api(prometheus: Prometheus, path: str, params: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    payload = prometheus.api(path, params)
    return sorted(payload["data"]), _warnings(payload)


@pytest.mark.parametrize("path", ["labels", "label/code/values", "label/__name__/values"])
def test_label_endpoints(prometheus_run: PrometheusRun, path: str) -> None:
    run = prometheus_run
    params = [("match[]", '{job="target"}'), ("start", str(run.window_start)), ("end", str(run.window_end))]
    values_a, warnings_a = _label_api(run.a, path, params)
    values_b, warnings_b = _label_api(run.b, path, params)
    assert not warnings_a, warnings_a
    if warnings_b == ["not implemented"]:
        # Prometheus 2.x's remote-read querier answers label look-ups with "not implemented"
        # (prometheus/prometheus#3351): B cannot ask the connector, whatever the connector does.
        pytest.skip(f"this Prometheus does not send label look-ups over remote read: {warnings_b}")
    assert not warnings_b, warnings_b
    assert values_a == values_b, f"/api/v1/{path}: A={values_a} B={values_b}"


def test_remote_write_sent_everything(prometheus_run: PrometheusRun) -> None:
    """Every batch A sent was acknowledged with 2xx the first time: nothing failed, was retried or
    dropped, and nothing from before the cut is still pending (the queue sends in order, and its
    newest sent sample is past the cut). Every counter read must exist: a renamed one fails."""
    metrics = prometheus_run.remote_write_metrics
    for name in (
        "prometheus_remote_storage_samples_failed_total",
        "prometheus_remote_storage_samples_retried_total",
        "prometheus_remote_storage_samples_dropped_total",
        "prometheus_remote_storage_metadata_failed_total",
    ):
        assert metric_sum(metrics, name) == 0, f"{name} = {metric_sum(metrics, name)}: {sorted(metrics.items())}"
    assert metric_sum(metrics, "prometheus_remote_storage_samples_total") > 0, sorted(metrics.items())
    newest_sent = metric_sum(metrics, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
    assert newest_sent >= prometheus_run.cut, (newest_sent, prometheus_run.cut)
    # Samples scraped after the cut may still wait for their batch; the gauge must exist all the same.
    metric_sum(metrics, "prometheus_remote_storage_samples_pending")


def test_b_has_no_local_data(prometheus_run: PrometheusRun) -> None:
    metrics = scalar_metrics(prometheus_run.b.metrics_text())
    assert metric_sum(metrics, "prometheus_tsdb_head_series") == 0


def test_external_labels_are_stored(prometheus_run: PrometheusRun) -> None:
    """A merged its external labels into what it wrote (B strips them again on read)."""
    run = prometheus_run
    answer = run.b.api("query", [("query", "up"), ("time", str(run.window_end))])
    assert answer["data"]["result"], "B reads no `up` at all"
    for series in answer["data"]["result"]:
        assert not set(EXTERNAL_LABELS) & set(series["metric"]), series


def test_timeline_as_designed(prometheus_run: PrometheusRun) -> None:
    """A's own view shows the appearances and disappearances the staleness queries rely on."""
    run = prometheus_run

    def names_at(offset: float, expr: str) -> set[str]:
        t = run.target_started + offset
        assert run.window_start <= t <= run.window_end, f"offset {offset}s falls outside the compared window"
        answer = run.a.api("query", [("query", expr), ("time", f"{t:.3f}")])
        return {str(sorted(s["metric"].items())) for s in answer["data"]["result"]}

    assert names_at(FLAP_GAP[0] - 1.5, "e2e_flapping"), "e2e_flapping missing before its gap"
    assert not names_at(FLAP_GAP[0] + 2.5, "e2e_flapping"), "no staleness marker: e2e_flapping still shown in its gap"
    assert names_at(FLAP_GAP[1] + 2.5, "e2e_flapping"), "e2e_flapping did not come back"
    assert len(names_at(EPHEMERAL_2[0] + 2.5, "e2e_ephemeral")) == 2
    assert not names_at(EPHEMERAL_2[1] + 2.5, "e2e_ephemeral")
    # The rule goes stale one evaluation after the scrape that saw the series vanish: on a loaded
    # machine scrapes and evaluations lag by a second or two, so look a little later.
    assert not names_at(EPHEMERAL_2[1] + 3.5, "e2e:ephemeral:count"), "the rule's output did not go stale"
    assert names_at(SHIFT_AT + 2.5, 'e2e_shifting{mode="a"}') == set()
