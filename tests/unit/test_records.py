import math
import struct
from collections import Counter
from itertools import groupby

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.timestream import schema
from connector.timestream.calls import call_of as _call
from connector.timestream.planning import plan_calls
from connector.timestream.records import Record, SeriesCache, record, translate
from prompb import remote_pb2
from tests.helpers import STALE_NAN, float_bits, write_request


def series(*items):  # type: ignore[no-untyped-def]
    return remote_pb2.WriteRequest.FromString(write_request(items)).timeseries


def test_each_sample_becomes_one_record_with_its_labels_time_and_value() -> None:
    result = translate(series(([("__name__", "up"), ("instance", "a:1"), ("job", "node")], [(1000, 1.0), (2000, 0.0)])))
    assert result.records == [
        record((("instance", "a:1"), ("job", "node")), "up", 1000, "1.0", 8 + 2 + 8 + 3 + 3 + 4 + 8),
        record((("instance", "a:1"), ("job", "node")), "up", 2000, "0.0", 8 + 2 + 8 + 3 + 3 + 4 + 8),
    ]
    assert not result.invalid


def test_empty_label_values_mean_absent_labels() -> None:
    result = translate(series(([("__name__", "up"), ("empty", ""), ("job", "x")], [(1, 1.0)])))
    assert result.records[0].dimensions == (("job", "x"),)


def test_series_without_other_labels_keeps_its_name_as_the_only_dimension() -> None:
    result = translate(series(([("__name__", "lonely")], [(1, 2.5)])))
    assert result.records[0].dimensions == ((schema.NAME_DIMENSION, "lonely"),)
    assert result.records[0].measure_name == "lonely"


def test_invalid_series_are_counted_by_reason_and_the_rest_is_kept() -> None:
    result = translate(
        series(
            ([("job", "x")], [(1, 1.0), (2, 2.0)]),
            ([("__name__", "a"), ("", "v")], [(1, 1.0)]),
            ([("__name__", "a"), ("l", "v"), ("l", "w")], [(1, 1.0)]),
            ([("__name__", "a"), ("l" * 61, "v")], [(1, 1.0)]),
            ([("__name__", "a"), ("l", "v" * 2049)], [(1, 1.0)]),
            ([("__name__", "ok"), ("l", "v")], [(1, 1.0)]),
        )
    )
    assert [r.measure_name for r in result.records] == ["ok"]
    assert sum(result.invalid.values()) == 6
    assert result.invalid["series without a metric name (__name__)"] == 2
    assert any("duplicate label name" in reason for reason in result.invalid)
    assert any("60 bytes" in reason for reason in result.invalid)
    assert any("2048 bytes" in reason for reason in result.invalid)


def test_too_many_labels_and_too_large_records_are_invalid() -> None:
    many = [("__name__", "m")] + [(f"l{i:03d}", "v") for i in range(129)]
    large = [("__name__", "m")] + [(f"l{i}", "v" * 150) for i in range(14)]
    result = translate(series((many, [(1, 1.0)]), (large, [(1, 1.0)])))
    assert not result.records
    assert sum(result.invalid.values()) == 2


def test_non_finite_values_are_tagged_with_the_special_dimension() -> None:
    values = [math.inf, -math.inf, float("nan"), STALE_NAN]
    result = translate(series(([("__name__", "m"), ("job", "j")], list(enumerate(values)))))
    specials = [dict(r.dimensions)[schema.SPECIAL_DIMENSION] for r in result.records]
    assert specials == ["+Inf", "-Inf", schema.encode_special(float("nan")), "stale"]
    assert all(r.value == "0.0" for r in result.records)


label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True).filter(lambda n: n != "__name__")
label_values = st.text(min_size=1, max_size=30)


@settings(max_examples=200)
@given(
    labels=st.dictionaries(label_names, label_values, min_size=0, max_size=8),
    metric=st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,30}", fullmatch=True),
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([5e-324, -0.0, 1e300, 4e-7]),
        min_size=1,
        max_size=5,
    ),
)
def test_random_label_sets_and_values_reach_the_records_unchanged(labels, metric, values) -> None:  # type: ignore[no-untyped-def]
    pairs = sorted([("__name__", metric), *labels.items()])
    result = translate(series((pairs, [(1000 + i, v) for i, v in enumerate(values)])))
    assert len(result.records) == len(values)
    for rec, value in zip(result.records, values, strict=True):
        assert float_bits(float(rec.value)) == float_bits(value)
        decoded = {schema.label_name(n): v for n, v in rec.dimensions}
        true_name = decoded.pop(None, rec.measure_name)
        assert true_name == metric
        assert decoded == labels


def _records(n: int, time_ms: int = 1000) -> list[Record]:
    records = []
    for i in range(n):
        dimensions = (("instance", f"host{i % 3}"), ("job", "node"), ("mode", f"m{i}"))
        size = 8 + 8 + len("cpu") + sum(len(name) + len(value) for name, value in dimensions)
        records.append(record(dimensions, "cpu", time_ms, f"{i}.0", size))
    return records


def test_calls_hold_at_most_100_records_and_every_record_once() -> None:
    records = _records(250)
    calls = plan_calls(records)
    assert all(len(c.records) <= 100 for c in calls) and len(calls) >= 3
    assert sorted(_fields(r) for c in calls for r in c.records) == sorted(map(_fields, records))


def test_shared_time_and_dimensions_go_into_common_attributes() -> None:
    (call,) = plan_calls(_records(3))
    params = call.parameters("db", "tbl")
    common = params["CommonAttributes"]
    assert common["Time"] == "1000" and common["MeasureName"] == "cpu"
    assert common["Dimensions"] == [{"Name": "job", "Value": "node"}]
    for item in params["Records"]:
        assert "Time" not in item and "MeasureName" not in item
        names = {d["Name"] for d in item["Dimensions"]}
        assert names == {"instance", "mode"}


def test_records_with_different_times_carry_their_own_time() -> None:
    records = [*_records(2, time_ms=1000), *_records(2, time_ms=2000)]
    (call,) = plan_calls(records)
    params = call.parameters("db", "tbl")
    assert "Time" not in params["CommonAttributes"]
    assert sorted(r["Time"] for r in params["Records"]) == ["1000", "1000", "2000", "2000"]


def test_merging_common_attributes_restores_every_record_exactly() -> None:
    records = [*_records(150), *_records(70, time_ms=5000)]
    rebuilt = []
    for call in plan_calls(records):
        params = call.parameters("db", "tbl")
        common = params["CommonAttributes"]
        for item in params["Records"]:
            dims = {d["Name"]: d["Value"] for d in common.get("Dimensions", []) + item.get("Dimensions", [])}
            rebuilt.append(
                record(
                    tuple(sorted(dims.items())),
                    item.get("MeasureName", common.get("MeasureName")),
                    int(item.get("Time", common.get("Time"))),
                    item["MeasureValue"],
                )
            )
    assert sorted(map(_fields, rebuilt)) == sorted(map(_fields, records))


def _billed_units(params: dict) -> int:  # type: ignore[type-arg]
    """Timestream's write metering: record bytes, common attributes once, rounded up per call to KiB."""
    common = params["CommonAttributes"]
    total = len(common.get("MeasureName", "").encode()) + (8 if "Time" in common else 0)
    total += sum(len(d["Name"].encode()) + len(d["Value"].encode()) for d in common.get("Dimensions", []))
    for item in params["Records"]:
        total += 8 + len(item.get("MeasureName", "").encode()) + (8 if "Time" in item else 0)
        total += sum(len(d["Name"].encode()) + len(d["Value"].encode()) for d in item.get("Dimensions", []))
    return -(-total // 1024)


def _captured_requests() -> list[list[Record]]:
    from tests.helpers import captured_writes

    requests = [translate(c.message().timeseries).records for c in captured_writes()]
    return [records for records in requests if records]


def test_calls_mix_scrapes_only_where_that_saves_a_kib(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A scrape's calls share its time; a few of its records join another scrape's call only to bill less."""
    from connector.timestream import planning as planner

    def unshed(records: list[Record]) -> list:  # type: ignore[type-arg]
        with monkeypatch.context() as patch:
            patch.setattr(planner, "_shed_overflows", lambda calls, per_call: calls)
            return plan_calls(records)

    mixing = 0
    for records in _captured_requests():
        calls = plan_calls(records)
        assert sorted(_fields(r) for c in calls for r in c.records) == sorted(map(_fields, records))
        assert all(len(c.records) <= 100 for c in calls)
        scrape_sizes = Counter(r.time_ms for r in records)
        before = unshed(records)
        for call in before:
            if any(scrape_sizes[r.time_ms] >= 20 for r in call.records):
                assert call.common_time_ms is not None
        mixed = [c for c in calls if c.common_time_ms is None and any(scrape_sizes[r.time_ms] >= 20 for r in c.records)]
        if mixed:
            mixing += 1
            assert _units(calls) < _units(before)
    assert mixing  # the captured traffic has such calls: the test looks at them


def test_tiny_groups_are_packed_together() -> None:
    records = [record((("i", str(k)),), "m", 1000 + k, "1.0", 20) for k in range(150)]
    calls = plan_calls(records)
    assert len(calls) == 2
    assert sorted(_fields(r) for c in calls for r in c.records) == sorted(map(_fields, records))


def test_planning_bills_less_than_plain_chunks_of_100_with_common_attributes() -> None:
    planned = plain = 0
    for records in _captured_requests():
        planned += sum(_billed_units(c.parameters("d", "t")) for c in plan_calls(records))
        plain += sum(
            _billed_units(_call(records[i : i + 100]).parameters("d", "t")) for i in range(0, len(records), 100)
        )
    assert planned < plain


def _fields(r: Record) -> tuple[object, ...]:
    return (r.dimensions, r.measure_name, r.time_ms, r.value)


def _scrape(metrics: dict[str, int], time_ms: int = 1000) -> list[Record]:
    """One target's scrape: ``metrics`` maps a metric name to its number of series."""
    pairs = []
    for name, count in metrics.items():
        for i in range(count):
            labels = [("__name__", name), ("instance", "10.0.0.1:9100"), ("job", "node"), ("le", f"{i * 0.25}")]
            pairs.append((labels, [(time_ms, float(i))]))
    return translate(series(*pairs)).records


def _units(calls: list) -> int:  # type: ignore[type-arg]
    return sum(_billed_units(c.parameters("d", "t")) for c in calls)


def _chunks(records: list[Record]) -> list:  # type: ignore[type-arg]
    return [_call(records[i : i + 100]) for i in range(0, len(records), 100)]


def test_a_metric_with_many_series_gets_calls_that_share_its_name() -> None:
    singles = {f"node_some_rather_long_gauge_name_{k:02d}": 1 for k in range(60)}
    records = _scrape({"http_request_duration_seconds_bucket": 70, **singles})
    calls = plan_calls(records)
    own = [c for c in calls if c.common_measure == "http_request_duration_seconds_bucket"]
    assert sum(len(c.records) for c in own) >= 50  # most of its series, in calls naming it once
    ordered = sorted(records, key=lambda r: r.measure_name)
    assert _units(calls) < _units(_chunks(ordered))  # every metric mixed, sorted as the planner sorts


def test_a_metric_of_few_series_stays_in_the_mixed_calls() -> None:
    records = _scrape({"up": 3, **{f"go_gauge_{k:02d}": 1 for k in range(30)}})
    calls = plan_calls(records)
    assert len(calls) == 1  # an own call for 3 records would bill a KiB for ~100 bytes
    assert _units(calls) == _units(_chunks(records))


def test_planning_bills_less_than_one_call_per_metric_or_all_metrics_mixed_on_captured_traffic() -> None:
    planned = mixed = per_metric = 0
    for records in _captured_requests():
        planned += _units(plan_calls(records))
        ordered = sorted(records, key=lambda r: (r.time_ms, r.measure_name))
        for _, scrape in groupby(ordered, key=lambda r: r.time_ms):
            scrape_records = list(scrape)
            mixed += _units(_chunks(scrape_records))
            for _, metric in groupby(scrape_records, key=lambda r: r.measure_name):
                per_metric += _units(_chunks(list(metric)))
    assert planned < mixed and planned < per_metric


def test_a_series_keeps_a_bounded_number_of_special_value_variants() -> None:
    stored = translate(series(([("__name__", "m"), ("job", "x")], [(1, 1.0)]))).records[0].series
    payloads = [struct.unpack(">d", (0x7FF0000000000100 + i).to_bytes(8, "big"))[0] for i in range(1000)]
    tagged = [stored.special(value) for value in payloads]
    assert len(stored._specials) <= 8
    texts = {dict(t.dimensions)[schema.SPECIAL_DIMENSION] for t in tagged}
    assert texts == {schema.encode_special(v) for v in payloads}


_PAIRS = st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["1", "2"]))


@given(st.lists(st.frozensets(_PAIRS, max_size=6), min_size=1, max_size=12), st.data())
def test_common_dimensions_are_exactly_the_pairs_on_every_record(sets: list[frozenset], data: st.DataObject) -> None:
    """Whatever the first and last records share, and whatever part of the answer is given as known."""
    from connector.timestream.calls import common_dimensions as _common_dimensions

    records = [record(tuple(sorted(s)), "m", 1, "1.0") for s in sets]
    truth = frozenset.intersection(*(r.series.dimension_set for r in records))
    floor = frozenset(data.draw(st.lists(st.sampled_from(sorted(truth)), unique=True))) if truth else frozenset()
    assert _common_dimensions(records, floor) == truth
    assert _common_dimensions(records) == truth


def test_plans_share_only_what_every_record_of_a_call_holds_on_captured_traffic() -> None:
    from bench.common import captured_writes

    for item in captured_writes():
        records = translate(item.message().timeseries).records
        for call in plan_calls(records) if records else []:
            held = frozenset.intersection(*(r.series.dimension_set for r in call.records))
            assert frozenset(call.common_dimensions) == held


def _remote_scrape(remote_metrics: int, url: str, others: int, time_ms: int = 1000) -> list[Record]:
    """One target's scrape of single-series metrics; ``remote_metrics`` of them carry the same ``url``."""
    pairs = []
    target = [("instance", "10.0.0.1:9090"), ("job", "prometheus")]
    for k in range(remote_metrics):
        labels = [("__name__", f"prometheus_remote_storage_metric_{k:02d}"), *target, ("url", url)]
        pairs.append((labels, [(time_ms, float(k))]))
    for k in range(others):
        pairs.append(([("__name__", f"go_memstats_gauge_{k:02d}"), *target], [(time_ms, float(k))]))
    return translate(series(*pairs)).records


def test_metrics_that_share_a_label_the_scrape_lacks_get_calls_that_share_it() -> None:
    url = "https://remote-storage.example.internal:19201/api/v1/write"
    records = _remote_scrape(40, url, 60)
    calls = plan_calls(records)
    sharing = [c for c in calls if ("url", url) in c.common_dimensions]
    assert sum(len(c.records) for c in sharing) >= 30  # most of them: the label counts once per call
    assert all(c.common_measure is None for c in sharing)  # different metrics, one call
    ordered = sorted(records, key=lambda r: r.measure_name)
    assert _units(calls) < _units(_chunks(ordered))  # every record mixed, the label on each


def test_a_shared_label_on_few_records_stays_in_the_mixed_calls() -> None:
    for others in range(20, 90):  # whatever room the mixed calls' last KiB has left
        records = _remote_scrape(3, "u1", others)
        calls = plan_calls(records)  # a call of their own would bill a KiB to save a few bytes
        assert _units(calls) == _units(_chunks(sorted(records, key=lambda r: r.measure_name)))


def test_label_groups_bill_less_on_captured_traffic(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from connector.timestream import planning

    with_groups = sum(_units(plan_calls(records)) for records in _captured_requests())
    monkeypatch.setattr(planning, "_label_groups", lambda mixed, *_: ([], mixed))
    without = sum(_units(plan_calls(records)) for records in _captured_requests())
    assert with_groups < without


_LABEL_VALUES = st.sampled_from(["a", "bb", "a-much-longer-value-shared-by-many-series", ""])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 2), _LABEL_VALUES, _LABEL_VALUES, st.sampled_from([1000, 2000])),
        min_size=1,
        max_size=300,
    ),
    st.integers(1, 100),
)
def test_any_plan_holds_every_record_once_and_shares_only_what_they_all_hold(shape, per_call) -> None:  # type: ignore[no-untyped-def]
    """Random scrapes, planned twice with the same series in other company (cached per-series facts)."""
    pairs = []
    for i, (metric, target, x, y, time_ms) in enumerate(shape):
        labels = [("__name__", f"metric_{metric}"), ("instance", f"t{target}"), ("job", "j"), ("n", str(i))]
        labels += [(name, value) for name, value in (("x", x), ("y", y)) if value]
        pairs.append((sorted(labels), [(time_ms, float(i))]))
    records = translate(series(*pairs)).records
    for subset in (records, records[: len(records) // 2 + 1], records):
        calls = plan_calls(subset, per_call)
        assert sorted(_fields(r) for c in calls for r in c.records) == sorted(map(_fields, subset))
        for call in calls:
            assert 0 < len(call.records) <= per_call
            held = frozenset.intersection(*(r.series.dimension_set for r in call.records))
            assert frozenset(call.common_dimensions) == held
            assert call.common_measure in (None, *{r.measure_name for r in call.records})
            if call.common_measure is not None:
                assert {r.measure_name for r in call.records} == {call.common_measure}


def test_records_over_a_kib_boundary_move_into_the_room_another_call_has_left() -> None:
    """A scrape whose calls end a few bytes past a KiB, and a small scrape of another target."""
    saved = 0
    for others in range(40, 120):
        records = [*_remote_scrape(0, "", others), *_scrape({"up": 1, "scrape_duration_seconds": 1}, time_ms=1500)]
        calls = plan_calls(records)
        assert sorted(_fields(r) for c in calls for r in c.records) == sorted(map(_fields, records))
        by_time = [
            _call(sorted(scrape, key=lambda r: r.measure_name))
            for _, scrape in groupby(sorted(records, key=lambda r: r.time_ms), key=lambda r: r.time_ms)
        ]
        assert _units(calls) <= _units(by_time)  # never more than a call per scrape
        if _units(calls) < _units(by_time):
            saved += 1
            (joined,) = [c for c in calls if c.common_time_ms is None]  # records carry their own time
            assert {r.time_ms for r in joined.records} == {1000, 1500}
    assert saved > 10  # wherever the first scrape's last KiB holds only a few records


def test_moving_records_into_room_keeps_calls_within_the_record_limit() -> None:
    records = [
        *_remote_scrape(0, "", 25, time_ms=1000),
        *_scrape({f"m{k}": 1 for k in range(5)}, time_ms=2000),
        *_scrape({f"m{k}": 1 for k in range(5)}, time_ms=3000),
    ]
    for per_call in (2, 3, 5, 7):
        calls = plan_calls(records, per_call)
        assert all(len(c.records) <= per_call for c in calls)
        assert sorted(_fields(r) for c in calls for r in c.records) == sorted(map(_fields, records))


def test_what_a_scrape_shares_is_worked_out_again_when_its_series_meet_other_company() -> None:
    """Series remember the shared pairs of their last scrape; a scrape of different company must not trust that."""

    def scrape(names_with_x: dict[str, bool], time_ms: int) -> list[Record]:
        pairs = []
        for name, with_x in names_with_x.items():
            labels = [("__name__", name), ("job", "j"), ("n", name), *([("x", "1")] if with_x else [])]
            pairs.append((sorted(labels), [(time_ms, 1.0)]))
        return translate(series(*pairs), cache).records

    cache = SeriesCache()
    for time_ms, shape in enumerate(
        [
            {f"d{k:02d}": False for k in range(25)},  # these never have x
            {f"a{k:02d}": True for k in range(25)},  # these all have x: x is shared
            {"a00": True, **{f"d{k:02d}": False for k in range(20)}, "z": True},  # first and last have x
        ]
    ):
        records = scrape(shape, 1000 * (time_ms + 1))
        for call in plan_calls(records):
            held = frozenset.intersection(*(r.series.dimension_set for r in call.records))
            assert frozenset(call.common_dimensions) == held


def test_a_scrape_seen_again_is_planned_as_if_for_the_first_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Plans are remembered by the scrape's series: the next scrape keeps its own time and values."""
    from connector.timestream import planning as planner

    planned = []
    plan_scrape = planner._plan_scrape
    monkeypatch.setattr(planner, "_plan_scrape", lambda *args: planned.append(1) or plan_scrape(*args))

    def view(calls: list) -> list:  # type: ignore[type-arg]
        return [
            ([_fields(r) for r in c.records], c.common_dimensions, c.common_time_ms, c.common_measure) for c in calls
        ]

    for records in _captured_requests():
        plan_calls(records)
        later = [Record(r.series, r.time_ms + 15_000, repr(i / 7)) for i, r in enumerate(records)]
        before = len(planned)
        remembered = plan_calls(later)
        assert len(planned) == before  # no scrape was planned again
        planner._PLANS.clear()
        assert view(remembered) == view(plan_calls(later))
        assert len(planned) > before
        assert all(len(c.records) <= 7 for c in plan_calls(later, per_call=7))  # a plan for its own limit


def test_a_remembered_plan_holds_no_series_alive() -> None:
    """Series live as long as their cache keeps them: plans of scrapes long gone must not pin them."""
    import sys

    records = _scrape({"http_request_duration_seconds_bucket": 30, "up": 1})
    held = [sys.getrefcount(r.series) for r in records]
    plan_calls(records)
    plan_calls([Record(r.series, r.time_ms + 15_000, r.value) for r in records])  # planned from memory
    assert [sys.getrefcount(r.series) for r in records] == held
