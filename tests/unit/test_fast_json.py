import json

import boto3
from botocore.config import Config

from connector.timestream import fast_json
from connector.timestream.calls import plan_calls
from connector.timestream.records import Record


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
    records = [Record((("job", 'q"uo\\te'), ("zone", f"é{i}\x01")), "m:x", 1000 + i % 2, repr(i / 3)) for i in range(7)]
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
