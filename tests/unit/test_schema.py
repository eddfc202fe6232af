import math

from hypothesis import given
from hypothesis import strategies as st

from connector.timestream import schema
from connector.timestream.records import translate
from prompb import types_pb2
from tests.helpers import STALE_NAN, float_bits


@given(st.text(min_size=1))
def test_every_label_name_maps_to_a_dimension_that_decodes_back(name: str) -> None:
    dimension = schema.dimension_name(name)
    assert schema.label_name(dimension) == name


@given(st.text(min_size=1))
def test_escaped_dimension_names_never_collide_with_reserved_columns(name: str) -> None:
    dimension = schema.dimension_name(name)
    assert dimension not in (schema.NAME_DIMENSION, schema.SPECIAL_DIMENSION, "measure_name", "time")
    assert not dimension.lower().startswith(("ts_", "measure_name"))
    assert ":" not in dimension


def test_ordinary_label_names_are_stored_verbatim_like_the_official_connector() -> None:
    for name in ("job", "instance", "le", "quantile", "_underscore", "Mixed_Case9"):
        assert schema.dimension_name(name) == name


def test_names_timestream_reserves_are_escaped_readably() -> None:
    assert schema.dimension_name("time") == "__l_time"
    assert schema.dimension_name("ts_region") == "__l_ts_region"
    assert schema.dimension_name("measure_value") == "__l_measure_value"
    assert schema.dimension_name("__special_value__") == "__l___special_value__"
    assert schema.dimension_name("http.method").startswith("__u_")


def test_plain_metric_names_are_the_measure_name() -> None:
    assert schema.measure_name("up") == ("up", False)
    assert schema.stored_measure_names("up") == ("up",)


def test_recording_rule_names_get_a_stand_in_and_the_true_name_dimension() -> None:
    stand_in, needs_dimension = schema.measure_name("job:http_requests:rate5m")
    assert needs_dimension and ":" not in stand_in
    assert stand_in in schema.stored_measure_names("job:http_requests:rate5m")


def test_reserved_and_oversized_metric_names_get_storable_stand_ins() -> None:
    for name in ("ts_metric", "measure_name_total", "x" * 300, "é" * 200):
        stand_in, needs_dimension = schema.measure_name(name)
        assert needs_dimension
        assert len(stand_in.encode()) <= schema.MAX_MEASURE_NAME_BYTES
        assert not stand_in.startswith(("ts_", "measure_name"))


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_special_values_round_trip_bit_exactly(bits: int) -> None:
    value = schema.bits_float(bits)
    special = schema.encode_special(value)
    if math.isfinite(value):
        assert special is None
    else:
        assert special is not None
        assert float_bits(schema.decode_special(special)) == bits


def test_staleness_marker_and_infinities_have_readable_names() -> None:
    assert schema.encode_special(STALE_NAN) == "stale"
    assert schema.encode_special(math.inf) == "+Inf"
    assert schema.encode_special(-math.inf) == "-Inf"
    assert schema.encode_special(schema.bits_float(schema.CANONICAL_NAN_BITS)) == "NaN"


def _series(labels: list[tuple[str, str]], value: float) -> types_pb2.TimeSeries:
    series = types_pb2.TimeSeries(labels=[types_pb2.Label(name=n, value=v) for n, v in labels])
    series.samples.add(timestamp=1, value=value)
    return series


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_double_text_is_lossless(value: float) -> None:
    (record,) = translate([_series([("__name__", "m"), ("job", "j")], value)]).records
    assert float_bits(float(record.value)) == float_bits(value)
