import json

import boto3
from botocore.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.timestream import fast_json
from connector.timestream.planning import plan_calls
from connector.timestream.records import Record, StoredSeries, record
from connector.timestream.writer import call_parameters


def _client():  # type: ignore[no-untyped-def]
    return boto3.client(
        "timestream-write",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(parameter_validation=False),
    )


def test_fast_body_is_the_same_json_document_as_botocores() -> None:
    records = [record((("job", 'q"uo\\te'), ("zone", f"é{i}\x01")), "m:x", 1000 + i % 2, repr(i / 3)) for i in range(7)]
    params = plan_calls(records)[0].parameters("db", "tbl")
    plain = _client()
    model = plain.meta.service_model.operation_model("WriteRecords")
    expected = plain._serializer.serialize_to_request(params, model)
    fast = fast_json.install(_client())._serializer.serialize_to_request(params, model)
    assert json.loads(fast["body"]) == json.loads(expected["body"])
    assert {k: v for k, v in fast.items() if k != "body"} == {k: v for k, v in expected.items() if k != "body"}


def test_other_operations_keep_botocores_serializer() -> None:
    client = fast_json.install(_client())
    model = client.meta.service_model.operation_model("DescribeTable")
    request = client._serializer.serialize_to_request({"DatabaseName": "d", "TableName": "t"}, model)
    assert json.loads(request["body"]) == {"DatabaseName": "d", "TableName": "t"}
    assert fast_json.install(client) is client


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=5)
dimension_sets = st.dictionaries(st.sampled_from(["job", "instance", "a", 'q"', "\\", "é"]), text, min_size=1)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(dimension_sets, st.sampled_from(["m", "m:x", 'q"m']), st.sampled_from([1000, 2000]), st.floats()),
        min_size=1,
        max_size=30,
    )
)
def test_the_prebuilt_body_is_the_parameters_as_json(items: list) -> None:  # type: ignore[type-arg]
    # One cache of series across calls, as in a warm process: each series meets several call layouts.
    series: dict[tuple[object, ...], StoredSeries] = {}
    records = []
    for dimensions, measure, time_ms, value in items:
        key = (tuple(sorted(dimensions.items())), measure)
        stored = series.setdefault(key, StoredSeries(key[0], measure, 0))  # type: ignore[arg-type]
        records.append(Record(stored, time_ms, repr(value)))
    for per_call in (1, 3, 100):
        for call in plan_calls(records, per_call):
            assert json.loads(call.body("db", "t\"bl")) == call.parameters("db", "t\"bl")


def test_a_series_in_calls_that_share_different_dimensions_gets_each_calls_own_part() -> None:
    shared = StoredSeries((("instance", "a"), ("job", "j")), "up", 0)
    calls = [
        plan_calls([Record(shared, 1000, "1.0"), record((("instance", "a"), ("job", "j2")), "up", 1000, "2.0")])[0],
        plan_calls([Record(shared, 1000, "1.0"), record((("instance", "b"), ("job", "j")), "up", 1000, "2.0")])[0],
    ]
    for call in calls * 2:
        assert json.loads(call.body("db", "t")) == call.parameters("db", "t")


def test_the_connectors_client_sends_the_prebuilt_body_and_other_clients_get_parameters() -> None:
    call = plan_calls([record((("job", "j"),), "up", 1000, "1.0")])[0]
    fast = fast_json.install(_client())
    params = call_parameters(fast, "db", "t", call)
    model = fast.meta.service_model.operation_model("WriteRecords")
    sent = fast._serializer.serialize_to_request(params, model)
    assert sent["body"] == call.body("db", "t")
    assert call_parameters(_client(), "db", "t", call) == call.parameters("db", "t")
