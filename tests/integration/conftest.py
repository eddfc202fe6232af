"""A running embedded store and the connector's two front doors in front of it."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from connector import handler as lambda_module
from connector.app import Connector
from connector.config import Settings
from connector.http import Response
from connector.server import ConnectorServer
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients

KEY_ID, SECRET = "AKIAINTEGRATIONTEST1", "integration-secret-1"
OTHER_KEY_ID, OTHER_SECRET = "AKIAINTEGRATIONTEST2", "integration-secret-2"
DATABASE, TABLE = "promdb", "metrics"


@pytest.fixture(scope="module")
def store() -> Iterator[EmbeddedTimestream]:
    with EmbeddedTimestream(credentials={KEY_ID: SECRET, OTHER_KEY_ID: OTHER_SECRET}) as running:
        # Magnetic writes: the captured Prometheus requests keep their real (ageing) timestamps.
        running.create_database_and_table(DATABASE, TABLE, memory_retention_hours=6, magnetic_writes=True)
        running.create_database_and_table(DATABASE, "memory_only", memory_retention_hours=1)
        yield running


@pytest.fixture(autouse=True)
def _no_faults(store: EmbeddedTimestream) -> Iterator[None]:
    yield
    store.set_faults()


def store_settings(
    store: EmbeddedTimestream, table: str = TABLE, database: str = DATABASE, **overrides: Any
) -> Settings:
    """Connector settings aimed at ``database.table`` in the embedded store."""
    return replace(
        Settings(), database=database, table=table, write_endpoint=store.url, query_endpoint=store.url, **overrides
    )


@pytest.fixture(scope="module")
def settings(store: EmbeddedTimestream) -> Settings:
    return store_settings(store, max_attempts=2, request_timeout=10)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


Door = Callable[[str, str, dict[str, str], bytes], Answer]


@contextlib.contextmanager
def serving(connector: Connector) -> Iterator[Door]:
    """The local server in front of ``connector``, as a door: (method, path, headers, body) -> Answer."""
    server = ConnectorServer(("127.0.0.1", 0), connector)
    server.start_background()
    host, port = str(server.server_address[0]), int(server.server_address[1])

    def send(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            reply = conn.getresponse()
            return Answer(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
        finally:
            conn.close()

    send.address = (host, port)  # type: ignore[attr-defined]
    try:
        yield send
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def server_door(settings: Settings) -> Iterator[Door]:
    with serving(Connector(settings)) as send:
        yield send


@pytest.fixture(scope="module")
def lambda_door(settings: Settings) -> Iterator[Door]:
    """The Lambda handler on HTTP API (2.0) events, its cached core swapped for one aimed at the store."""
    previous = lambda_module.install(Connector(settings))

    def send(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        event = {
            "version": "2.0",
            "rawPath": path,
            "headers": {k.lower(): v for k, v in headers.items()},
            "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        out = lambda_module.lambda_handler(json.loads(json.dumps(event)), None)
        return Answer(
            out["statusCode"], {k.lower(): v for k, v in out["headers"].items()}, base64.b64decode(out["body"])
        )

    yield send
    lambda_module.install(previous)


@pytest.fixture(params=["server", "lambda"], scope="module")
def door(request: pytest.FixtureRequest) -> Door:
    return request.getfixturevalue(f"{request.param}_door")


@pytest.fixture(scope="module")
def query(store: EmbeddedTimestream) -> Callable[[str], list[dict[str, Any]]]:
    _, query_client = boto3_clients(store, KEY_ID, SECRET)

    def run(sql: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in query_client.get_paginator("query").paginate(QueryString=sql):
            names = [c["Name"] for c in page["ColumnInfo"]]
            for row in page["Rows"]:
                rows.append({n: d.get("ScalarValue") for n, d in zip(names, row["Data"], strict=True)})
        return rows

    return run


def as_response(answer: Answer) -> Response:
    return Response(answer.status, answer.body, answer.headers)
