"""1.0 series read with raw labels translate exactly as the same request read with decoded labels."""

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import BadRequest, PayloadTooLarge
from connector.prom import snappy
from connector.prom.write_codec import MAX_SAMPLES_PER_REQUEST
from connector.prom.write_v1 import decode_v1
from connector.timestream.records import Translation, translate
from connector.write import translate_v1, v1_series_cache
from prompb import remote_pb2
from tests.helpers import STALE_NAN, write_request
from tests.robustness import wire

LIMIT = 64 << 20

names = st.sampled_from(["__name__", "job", "instance", "a", "é", "le", "zone", ""])
values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
label_sets = st.lists(st.tuples(names, values), max_size=6)
samples = st.lists(st.tuples(st.integers(0, 10**13), st.floats(allow_nan=True)), min_size=1, max_size=3)


def _view(result: Translation) -> tuple[object, ...]:
    records = [(r.dimensions, r.measure_name, r.time_ms, r.value, r.size) for r in result.records]
    return records, dict(result.invalid), dict(result.ignored)


def _both(raw: bytes, cache_v1: object = None) -> tuple[object, object]:
    reference = translate(remote_pb2.WriteRequest.FromString(raw).timeseries)
    return _view(reference), _view(translate_v1(decode_v1(snappy.compress(raw), LIMIT), cache_v1))  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.lists(st.tuples(label_sets, samples), min_size=1, max_size=5))
def test_raw_labels_translate_like_decoded_labels(series: list) -> None:  # type: ignore[type-arg]
    _translates_like_the_reference_cold_and_warm(write_request(series))


def _translates_like_the_reference_cold_and_warm(raw: bytes) -> None:
    cache = v1_series_cache()
    reference, once = _both(raw, cache)
    assert once == reference
    _, again = _both(raw, cache)  # the same series again: every label set now from the cache
    assert again == reference


# As Prometheus sends: one sample per series, millisecond times of today's six-byte varints, values
# that are often 0.0 (omitted from the Sample), and staleness markers.
prometheus_samples = st.lists(
    st.tuples(
        st.integers(2**35, 2**42 - 1),
        st.one_of(st.just(0.0), st.just(-0.0), st.just(float("nan")), st.just(STALE_NAN), st.floats(allow_nan=True)),
    ),
    min_size=1,
    max_size=1,
)


@settings(max_examples=300)
@given(st.lists(st.tuples(label_sets, prometheus_samples), min_size=1, max_size=6))
def test_series_split_at_their_sample_translate_like_decoded_ones(series: list) -> None:  # type: ignore[type-arg]
    _translates_like_the_reference_cold_and_warm(write_request(series))  # warm: found by their label bytes


def test_a_series_of_many_empty_labels_keeps_only_what_it_would_store() -> None:
    labels = [("__name__", "m"), ("job", "x")] + [(f"e{i:04d}", "") for i in range(5000)] + [("zz", "last")]
    reference, raw_read = _both(write_request([(labels, [(1000, 1.0)])]))
    assert raw_read == reference
    assert raw_read[0][0][0] == (("job", "x"), ("zz", "last"))  # type: ignore[index]


def test_too_many_labels_and_an_empty_name_among_many_are_invalid_as_before() -> None:
    many = [("__name__", "m")] + [(f"l{i:03d}", "v") for i in range(140)]
    empty_name = [("__name__", "m")] + [(f"e{i:03d}", "") for i in range(140)] + [("", "v")]
    reference, raw_read = _both(write_request([(many, [(1, 1.0)]), (empty_name, [(1, 1.0)])]))
    assert raw_read == reference
    assert sum(raw_read[1].values()) == 2  # type: ignore[index]


def test_a_label_that_does_not_decode_makes_the_whole_body_400() -> None:
    bad_label = wire.ld(1, wire.ld(1, b"\xff\xfe not utf-8"))
    body = wire.series(wire.label("__name__", "ok"), wire.label("job", "x"), wire.sample(1000, 1.0))
    body += wire.ld(1, bad_label + wire.sample(1000, 1.0))
    message = decode_v1(snappy.compress(body), LIMIT)  # the labels are read lazily: decoding succeeds
    with pytest.raises(BadRequest, match="label does not decode"):
        translate_v1(message)


def test_more_samples_than_the_limit_is_413_even_when_each_sample_is_empty() -> None:
    # An empty Sample is the smallest a sample can be on the wire: 2 bytes.
    body = wire.series(wire.label("__name__", "m"), wire.ld(2, b"") * (MAX_SAMPLES_PER_REQUEST + 1))
    with pytest.raises(PayloadTooLarge, match="samples in one request"):
        decode_v1(snappy.compress(body), LIMIT)


@pytest.mark.parametrize(
    "corrupt",
    [
        wire.ld(3, b"\x0a\x05abc"),  # an exemplar whose label overruns it
        wire.ld(4, b"\x08"),  # a histogram cut inside a varint
    ],
)
def test_a_corrupt_exemplar_or_histogram_makes_the_whole_body_400(corrupt: bytes) -> None:
    # They are counted, not stored, yet the body is corrupt: Prometheus' own receiver refuses it.
    good = wire.series(wire.label("__name__", "ok"), wire.sample(1000, 1.0))
    body = good + wire.series(wire.label("__name__", "m"), wire.sample(1000, 1.0), corrupt)
    with pytest.raises(DecodeError):
        remote_pb2.WriteRequest.FromString(body)
    with pytest.raises(BadRequest, match="does not parse"):
        translate_v1(decode_v1(snappy.compress(body), LIMIT))


def test_corrupt_metadata_makes_the_whole_body_400() -> None:
    body = wire.series(wire.label("__name__", "ok"), wire.sample(1000, 1.0)) + wire.ld(3, b"\x12\x09short")
    with pytest.raises(DecodeError):
        remote_pb2.WriteRequest.FromString(body)
    with pytest.raises(BadRequest, match="metadata does not parse"):
        decode_v1(snappy.compress(body), LIMIT)


def test_a_label_that_does_not_decode_past_the_stored_ones_still_makes_the_body_400() -> None:
    # Beyond the labels a series could store, the rest are still read: a broken one is a broken body.
    many = [wire.label("__name__", "m")] + [wire.label(f"l{i:03d}", "v") for i in range(140)]
    bad = wire.ld(1, wire.ld(1, b"\xff\xfe"))
    body = wire.series(wire.label("__name__", "ok"), wire.sample(1000, 1.0))
    body += wire.series(*many, bad, wire.sample(1000, 1.0))
    with pytest.raises(DecodeError):
        remote_pb2.WriteRequest.FromString(body)
    with pytest.raises(BadRequest, match="label does not decode"):
        translate_v1(decode_v1(snappy.compress(body), LIMIT))
