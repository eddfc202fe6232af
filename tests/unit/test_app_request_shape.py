"""Request shape at the boto3 level: botocore's Stubber checks every WriteRecords the core makes."""

from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from connector.app import Connector
from connector.config import Settings
from connector.http import Headers, Request
from tests.helpers import WRITE_HEADERS, basic_auth, write_body


class StubbedClients:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.identities: list[str] = []

    def write_client(self, identity: Any) -> Any:
        self.identities.append(identity.access_key_id)
        return self.client


def _request(body: bytes) -> Request:
    headers = Headers({**WRITE_HEADERS, "Authorization": basic_auth("AKIDSTUB", "secret")})
    return Request("POST", "/write", headers, body)


def test_write_sends_well_formed_write_records_to_the_configured_table() -> None:
    client = boto3.client(
        "timestream-write",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    expected = {
        "DatabaseName": "db_x",
        "TableName": "tbl_y",
        "CommonAttributes": {
            "MeasureValueType": "DOUBLE",
            "TimeUnit": "MILLISECONDS",
            "Time": "1700000000000",
            "MeasureName": "up",
            "Dimensions": [{"Name": "job", "Value": "node"}],
        },
        "Records": ANY,
    }
    body = write_body(
        [([("__name__", "up"), ("instance", f"h{i}"), ("job", "node")], [(1700000000000, 1.0)]) for i in range(3)]
    )
    with Stubber(client) as stub:
        stub.add_response("write_records", {"RecordsIngested": {"Total": 3}}, expected)
        clients = StubbedClients(client)
        connector = Connector(Settings(database="db_x", table="tbl_y"), clients=clients)  # type: ignore[arg-type]
        response = connector.handle(_request(body))
        stub.assert_no_pending_responses()
    assert response.status == 204
    assert clients.identities == ["AKIDSTUB"]


def test_metadata_only_requests_are_accepted_without_calling_timestream() -> None:
    from connector.prom import snappy
    from prompb import remote_pb2

    message = remote_pb2.WriteRequest()
    message.metadata.add(type=1, metric_family_name="up", help="h")
    client = boto3.client(
        "timestream-write",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    with Stubber(client):
        connector = Connector(Settings(), clients=StubbedClients(client))  # type: ignore[arg-type]
        response = connector.handle(_request(snappy.compress(message.SerializeToString())))
    assert response.status == 204
