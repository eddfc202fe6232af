"""Remote write 2.0 decoding, label resolution and translation, without a store."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor

from connector.errors import BadRequest, PayloadTooLarge
from connector.outcome import WriteOutcome
from connector.prom import snappy
from connector.prom.write_codec import MAX_SAMPLES_PER_REQUEST, written_headers
from connector.prom.write_v2 import SymbolKeys, decode_v2, labels_of
from connector.timestream.records import SeriesCache, translate
from connector.timestream.writer import WriteResult
from connector.write import EXEMPLARS_NOT_STORED, MAX_LABELS
from prompb import remote_pb2
from prompb.write.v2 import types_pb2
from tests.helpers import captured_metadata, captured_writes, rw2_revision, to_v2, write_body, write_request

LIMIT = 1 << 26


def request(symbols: list[str], *series: dict[str, Any]) -> types_pb2.Request:
    return types_pb2.Request(symbols=symbols, timeseries=[types_pb2.TimeSeries(**s) for s in series])


def body(message: Any) -> bytes:
    return snappy.compress(message.SerializeToString())


def v2_translate(message: types_pb2.Request, cache: SeriesCache | None = None) -> Any:
    cache = cache or SeriesCache(labels_of=labels_of)
    return translate(message.timeseries, cache, SymbolKeys(message.symbols, MAX_LABELS))


SYMBOLS = ["", "__name__", "up", "job", "api", "zone", "a"]
UP = [1, 2, 3, 4]  # {__name__="up", job="api"}
ONE = [types_pb2.Sample(value=1.5, timestamp=1000)]


def test_captured_traffic_translates_to_the_same_records_as_1_0() -> None:
    """The same data in both versions is the same records: same layout, values, specials and quotas."""
    metadata = captured_metadata()
    cache_v1, cache_v2 = SeriesCache(), SeriesCache(labels_of=labels_of)
    compared = 0
    for captured in captured_writes():
        v1 = captured.message()
        v2 = decode_v2(body(to_v2(v1, metadata, start_ms=5)), LIMIT)
        one, two = translate(v1.timeseries, cache_v1), v2_translate(v2, cache_v2)
        assert two.records == one.records and two.invalid == one.invalid
        compared += len(two.records)
    assert compared > 3000


def test_a_1_0_body_declared_as_2_0_is_400_not_an_empty_success() -> None:
    with pytest.raises(BadRequest, match=r"prometheus\.WriteRequest.*Content-Type: application/x-protobuf"):
        decode_v2(write_body([([("__name__", "up"), ("job", "x")], [(7, 2.0)])]), LIMIT)


def test_symbols_must_start_with_the_empty_string() -> None:
    with pytest.raises(BadRequest, match=r"symbols\[0\]"):
        decode_v2(body(request(["__name__", "up"], {"labels_refs": [0, 1], "samples": ONE})), LIMIT)


def test_series_without_a_symbols_table_are_400() -> None:
    with pytest.raises(BadRequest, match="no symbols"):
        decode_v2(body(request([], {"labels_refs": [], "samples": ONE})), LIMIT)


def test_an_empty_request_decodes() -> None:
    assert not decode_v2(b"\x00", LIMIT).timeseries


def test_too_many_samples_are_413_before_translation() -> None:
    samples = [types_pb2.Sample(value=1, timestamp=i) for i in range(MAX_SAMPLES_PER_REQUEST + 1)]
    with pytest.raises(PayloadTooLarge, match="samples in one request"):
        decode_v2(body(request(SYMBOLS, {"labels_refs": UP, "samples": samples})), LIMIT)


@pytest.mark.parametrize(
    ("refs", "metadata", "reason"),
    [
        ([1, 2, 3], {}, "odd number of label references (3)"),
        ([1, 2, 3, 99], {}, "label reference 99 outside the 7 symbols"),
        ([1, 2] + [5, 6] * 129, {}, "130 labels, more than the 129 allowed"),
        (UP, {"help_ref": 7}, "metadata reference (help_ref 7, unit_ref 0) outside the 7 symbols"),
        (UP, {"unit_ref": 1000}, "unit_ref 1000"),
        ([3, 4, 1, 2], {}, "label names not sorted '__name__'"),
        ([1, 2, 3, 4, 3, 6], {}, "repeated label name 'job'"),
        ([1, 2, 3, 0], {}, "empty value of label 'job'"),
        ([0, 4, 1, 2], {}, "empty label name"),
        ([3, 4], {}, "series without a metric name"),
    ],
)
def test_broken_references_and_labels_are_invalid_with_a_reason_naming_the_series(
    refs: list[int], metadata: dict[str, int], reason: str
) -> None:
    message = request(
        SYMBOLS,
        {"labels_refs": refs, "samples": ONE, "metadata": types_pb2.Metadata(**metadata)},
        {"labels_refs": [1, 2, 5, 6], "samples": ONE},
    )
    result = v2_translate(message)
    assert [r.dimensions for r in result.records] == [(("zone", "a"),)]  # the valid series is kept
    ((text, count),) = result.invalid.items()
    assert reason in text and count == 1
    if "metric name" not in reason:
        assert "series" in text and ("labels_refs" in text or "'up'" in text or "'api'" in text)


def test_1_0_leniency_cached_for_a_label_set_never_leaks_into_2_0() -> None:
    """1.0 sorts unsorted labels and drops empty ones; 2.0 refuses them, whatever 1.0 cached."""
    v1_cache, v2_cache = SeriesCache(), SeriesCache(labels_of=labels_of)
    v1 = remote_pb2.WriteRequest.FromString(write_request([([("job", "api"), ("__name__", "up")], [(1, 1.0)])]))
    assert translate(v1.timeseries, v1_cache).records
    message = request(SYMBOLS, {"labels_refs": [3, 4, 1, 2], "samples": ONE})
    assert not v2_translate(message, v2_cache).records


def test_exemplars_and_histograms_are_counted_for_every_series_valid_or_not() -> None:
    exemplar = types_pb2.Exemplar(labels_refs=[5, 6], value=2.0, timestamp=1000)
    histogram = types_pb2.Histogram(count_int=3, sum=1.0, timestamp=1000)
    message = request(
        SYMBOLS,
        {"labels_refs": UP, "samples": ONE, "exemplars": [exemplar, exemplar]},
        {"labels_refs": [1, 2, 5, 6], "histograms": [histogram]},
        {"labels_refs": [1, 2, 3], "samples": ONE, "exemplars": [exemplar], "histograms": [histogram]},
    )
    result = v2_translate(message)
    assert len(result.records) == 1
    assert result.ignored["exemplars"] == 3
    assert sum(result.invalid.values()) == 1 + 2  # the native histogram; the broken series' sample and histogram


@pytest.mark.parametrize("revision", ["rc3", "rc4"])
def test_both_spec_revisions_decode_and_their_start_timestamps_are_read(revision: str) -> None:
    """Encoded with exactly one revision's classes, read by the project's union schema."""
    v1 = captured_writes()[0].message()
    sent = to_v2(v1, captured_metadata(), start_ms=1_700_000_000_000, revision=revision)
    assert type(sent).DESCRIPTOR.file.name == f"rw2_{revision}.proto"
    message = decode_v2(body(sent), LIMIT)
    if revision == "rc3":
        starts = [ts.created_timestamp for ts in message.timeseries]
    else:
        starts = [s.start_timestamp for ts in message.timeseries for s in ts.samples]
    assert Counter(starts)[1_700_000_000_000] > 50
    assert v2_translate(message).records == translate(v1.timeseries).records  # read, never stored


def test_the_project_schema_has_the_start_timestamps_of_both_revisions() -> None:
    """Prometheus' types.proto: rc.3 (2.54 to 3.7) has TimeSeries.created_timestamp = 6; rc.4 (3.8 on)
    reserves 6 and has Sample.start_timestamp = 3 and Histogram.start_timestamp = 17, all int64."""

    def field(message: Any, number: int) -> tuple[str, int]:
        found = message.DESCRIPTOR.fields_by_number[number]
        return found.name, found.type

    int64 = FieldDescriptor.TYPE_INT64
    assert field(types_pb2.TimeSeries, 6) == ("created_timestamp", int64)
    assert field(types_pb2.Sample, 3) == ("start_timestamp", int64)
    assert field(types_pb2.Histogram, 17) == ("start_timestamp", int64)
    rc3, rc4 = rw2_revision("rc3"), rw2_revision("rc4")
    assert 3 not in rc3["Sample"].DESCRIPTOR.fields_by_number and 6 in rc3["TimeSeries"].DESCRIPTOR.fields_by_number
    assert 6 not in rc4["TimeSeries"].DESCRIPTOR.fields_by_number and 3 in rc4["Sample"].DESCRIPTOR.fields_by_number


def test_2_0_answers_carry_all_three_counts_and_1_0_answers_only_samples() -> None:
    assert written_headers(5, v2=True) == {
        "X-Prometheus-Remote-Write-Samples-Written": "5",
        "X-Prometheus-Remote-Write-Histograms-Written": "0",
        "X-Prometheus-Remote-Write-Exemplars-Written": "0",
    }
    assert written_headers(5, v2=False) == {"X-Prometheus-Remote-Write-Samples-Written": "5"}


def test_refused_exemplars_make_a_400_even_when_every_sample_is_written() -> None:
    outcome = WriteOutcome(
        samples=3,
        invalid=Counter({"series without a metric name (__name__)": 0}),  # an exemplar-only broken series
        refused=Counter({EXEMPLARS_NOT_STORED: 2}),
        result=WriteResult(written=3),
        v2=True,
    )
    response = outcome.response()
    text = response.body.decode()
    assert response.status == 400 and text.startswith("2 exemplars could not be stored")
    assert "2 x exemplars are not stored" in text and "metric name" not in text
    assert response.headers == {"Content-Type": "text/plain; charset=utf-8", **written_headers(3, v2=True)}
