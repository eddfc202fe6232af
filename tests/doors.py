"""The connector's two front doors as the tests drive them, and the answers they give.

A door is ``(method, path, headers, body) -> Answer``: the local HTTP server (``serving``) or the
Lambda handler on API Gateway events (``http_api_event`` + ``invoke``). One module for every suite,
so that no suite imports another's conftest.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from connector import handler as lambda_module
from connector.app import Connector
from connector.server import ConnectorServer


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names lowercased
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


Door = Callable[[str, str, dict[str, str], bytes], Answer]


@contextlib.contextmanager
def serving(connector: Connector) -> Iterator[Door]:
    """The local server in front of ``connector``, as a door."""
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


def http_api_event(method: str, path: str, headers: dict[str, str], body: bytes, **extra: Any) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event as the platform delivers it (JSON round trip)."""
    event = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
        **extra,
    }
    return json.loads(json.dumps(event))  # type: ignore[no-any-return]


def answer_of(result: dict[str, Any]) -> Answer:
    """The handler's return value as an HTTP answer; fails the test if it is not what API Gateway needs."""
    assert isinstance(result, dict) and isinstance(result.get("statusCode"), int), result
    raw = result.get("body", "")
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return Answer(result["statusCode"], {k.lower(): v for k, v in (result.get("headers") or {}).items()}, body)


def invoke(event: Any, context: Any = None) -> Answer:
    return answer_of(lambda_module.lambda_handler(event, context))


@contextlib.contextmanager
def lambda_with(connector: Connector) -> Iterator[Door]:
    """The Lambda handler with ``connector`` as its cached core (a warm execution environment), as a door."""
    previous = lambda_module.install(connector)

    def send(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        return invoke(http_api_event(method, path, headers, body))

    try:
        yield send
    finally:
        lambda_module.install(previous)
