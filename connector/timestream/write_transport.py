"""WriteRecords over keep-alive connections of our own: the hot path without botocore's per-call work.

A WriteRecords call through the botocore client costs ~0.6 ms of CPU: a dozen events, request and
header objects, urllib3's pool, headers and body sent apart. That was most of the connector's CPU
per sample. This module sends the bodies ``calls`` builds, a request's calls together from its
thread over pooled connections (``http_exchange``: one write per call, answers framed by llhttp), signed by
botocore's own SigV4 signer with the caller's exact credentials, and turns every failure into the
exception the botocore client raises for it: error answers are parsed by botocore's parser into its
modeled ``ClientError`` (``RejectedRecords`` included), and socket failures become botocore's
connection and timeout errors. So retries, statuses and accounting cannot tell the two paths apart.

The botocore client keeps every other operation, finds the endpoint (``DescribeEndpoints``) when
none is configured, and sends WriteRecords itself whenever a proxy is configured.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

# Imported with the first write client (``clients``), like botocore itself: nothing here at cold start.
from botocore.auth import SigV4Auth
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.httpsession import get_cert_path
from botocore.parsers import create_parser

from connector.timestream.fast_json import PREBUILT_BODY
from connector.timestream.http_exchange import Broken, ConnectFailed, Outcome, Pool, exchange_many

_TARGET = "Timestream_20181101.WriteRecords"
_SIGNING_NAME = "timestream"
_DEFAULT_PORTS = {"https": 443, "http": 80}
# Idle connections kept per endpoint: as many as calls may be in flight (WRITE_CONCURRENCY's maximum).
_IDLE_CONNECTIONS = 128


class _Endpoint(NamedTuple):
    """An endpoint URL taken apart once, not once per call."""

    url: str
    scheme: str
    host: str
    port: int
    authority: str  # the Host header as signed: the port only when not the scheme's default

    @classmethod
    def of(cls, url: str) -> _Endpoint:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        authority = host if port == _DEFAULT_PORTS[parts.scheme] else f"{host}:{port}"
        return cls(url, parts.scheme, host, port, authority)


class WriteRecordsTransport:
    """Sends prebuilt WriteRecords bodies for one identity; thread-safe, connections shared in a pool."""

    def __init__(
        self,
        client: Any,
        credentials: Callable[[], Any],
        region: str,
        endpoint_url: str | None,
        connect_timeout: float,
        read_timeout: float,
        user_agent: str,
    ) -> None:
        self._client = client  # for DescribeEndpoints, the service model and the exception classes
        self._credentials = credentials
        self._region = region
        self._configured_url = endpoint_url
        self._configured = _Endpoint.of(endpoint_url) if endpoint_url else None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._user_agent = user_agent
        self._parser = create_parser("json")
        self._operation = client.meta.service_model.operation_model("WriteRecords")
        self._pools: dict[_Endpoint, Pool] = {}
        self._pools_lock = threading.Lock()
        # The network part, on its own so a benchmark can measure everything else without one.
        self._exchange_many = exchange_many
        self._discovery_lock = threading.Lock()
        self._discovered: tuple[_Endpoint, float] | None = None  # (endpoint, monotonic expiry)
        self._signing_keys: dict[tuple[str, ...], bytes] = {}  # (secret, day, region, service) -> signing key

    def write_records(self, body: bytes) -> dict[str, Any]:
        """The parsed answer to one WriteRecords call; raises what the botocore client would."""
        deadline = time.monotonic() + 2 * self._read_timeout + self._connect_timeout
        outcome = self.write_many([lambda: body], deadline, 1)[0]
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is not None, "one call always ends within its own timeouts"
        return outcome

    def write_many(
        self,
        bodies: Sequence[Callable[[], bytes]],
        deadline: float,
        lanes: int,
        slots: threading.Semaphore | None = None,
    ) -> list[dict[str, Any] | Exception | None]:
        """One attempt at each call, ``lanes`` at a time from this thread (``http_exchange.exchange_many``):
        its parsed answer, the exception the botocore client would raise, or None if not answered by
        ``deadline``. Each body is built, and signed, only when its call is sent."""
        try:
            endpoint = self._configured or self._discovered_endpoint()
        except Exception as exc:  # no endpoint: every call fails alike
            return [exc] * len(bodies)
        url = endpoint.url
        signed_url = url.rstrip("/") + "/"  # the path signed is "/", as botocore signs it

        def signed(body_of: Callable[[], bytes]) -> tuple[bytes, bytes]:
            body = body_of()
            return _request_head(self._signed_headers(signed_url, endpoint.authority, body), len(body)), body

        requests = [functools.partial(signed, body_of) for body_of in bodies]
        answers = self._exchange_many(self._pool(endpoint), requests, lanes, deadline, slots)
        return [None if answer is None else self._outcome(answer, url) for answer in answers]

    def _outcome(self, answer: Outcome, url: str) -> dict[str, Any] | Exception:
        if isinstance(answer, ConnectFailed):
            if answer.timed_out:
                return ConnectTimeoutError(endpoint_url=url, error=answer.error)
            return EndpointConnectionError(endpoint_url=url, error=answer.error)
        if isinstance(answer, TimeoutError):
            return ReadTimeoutError(endpoint_url=url, error=answer)
        if isinstance(answer, Broken):
            return ConnectionClosedError(endpoint_url=url)
        if isinstance(answer, Exception):  # raised while building the request (signing, say)
            return answer
        assert answer is not None
        if answer.status == 200:
            parsed: dict[str, Any] = json.loads(answer.body) if answer.body else {}
            parsed["ResponseMetadata"] = {"HTTPStatusCode": answer.status, "HTTPHeaders": answer.headers}
            return parsed
        return self._client_error(answer.status, answer.headers, answer.body, url)

    def _signed_headers(self, url: str, authority: str, body: bytes) -> dict[str, str]:
        request = _SigningRequest(
            url,
            body,
            {
                "Host": authority,
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": _TARGET,
                "User-Agent": self._user_agent,
            },
        )
        _DailyKeySigV4Auth(self._credentials(), _SIGNING_NAME, self._region, self._signing_keys).add_auth(request)
        return request.headers

    def _pool(self, endpoint: _Endpoint) -> Pool:
        """The connections to ``endpoint`` (a discovered endpoint may change: one pool each)."""
        with self._pools_lock:
            pool = self._pools.get(endpoint)
            if pool is None:
                tls = _tls() if endpoint.scheme == "https" else None
                pool = self._pools[endpoint] = Pool(
                    endpoint.host, endpoint.port, tls, self._connect_timeout, self._read_timeout, _IDLE_CONNECTIONS
                )
            return pool

    def _endpoint(self) -> str:
        """The configured endpoint's URL, or the one ``DescribeEndpoints`` names."""
        return (self._configured or self._discovered_endpoint()).url

    def _discovered_endpoint(self) -> _Endpoint:
        """The endpoint ``DescribeEndpoints`` names, for as long as it says."""
        with self._discovery_lock:
            if self._discovered is None or time.monotonic() >= self._discovered[1]:
                answer = self._client.describe_endpoints()["Endpoints"][0]
                minutes = float(answer.get("CachePeriodInMinutes", 1))
                self._discovered = (_Endpoint.of(f"https://{answer['Address']}"), time.monotonic() + 60 * minutes)
            return self._discovered[0]

    def _client_error(self, status: int, headers: dict[str, str], data: bytes, url: str) -> Exception:
        """botocore's own exception for an error answer, parsed as its client parses one."""
        answer = {"status_code": status, "headers": headers, "body": data}
        parsed = self._parser.parse(answer, self._operation.output_shape)
        code = parsed.get("Error", {}).get("Code", "")
        shape = self._client.meta.service_model.shape_for_error_code(code) if code else None
        if shape is not None:
            modeled = self._parser.parse(answer, shape)
            modeled.pop("ResponseMetadata", None)
            parsed.update(modeled)
        if code == "InvalidEndpointException" and not self._configured_url:
            self._discovered = None  # the cell moved: ask again on the next call
        exception_class: Any = self._client.exceptions.from_code(code)
        return exception_class(parsed, "WriteRecords")  # type: ignore[no-any-return]


class _DailyKeySigV4Auth(SigV4Auth):
    """botocore's SigV4 signer, with the day's signing key derived once, not on every call.

    The key (four chained HMACs) depends only on the secret, the date, the region and the service;
    ``keys`` holds one identity's (one transport's) current one. A rotated secret or a new day
    derives it again. The canonical request and everything else are botocore's own.
    """

    def __init__(self, credentials: Any, service_name: str, region_name: str, keys: dict[tuple[str, ...], bytes]):
        super().__init__(credentials, service_name, region_name)
        self._keys = keys

    def signature(self, string_to_sign: str, request: Any) -> str:
        scope = (request.context["timestamp"][0:8], self._region_name, self._service_name, "aws4_request")
        secret = self.credentials.secret_key
        key = self._keys.get((secret, *scope))
        if key is None:
            key = f"AWS4{secret}".encode()
            for part in scope:
                key = self._sign(key, part)
            self._keys.clear()  # only the current key is ever needed
            self._keys[(secret, *scope)] = key
        return self._sign(key, string_to_sign, hex=True)  # type: ignore[no-any-return]


class _SigningRequest:
    """What botocore's ``SigV4Auth`` reads and writes of a request, without ``AWSRequest``'s header objects.

    ``SigV4Auth`` only iterates the headers and sets, tests and deletes them under fixed names
    (``X-Amz-Date``, ``Authorization``, ...), which none of the headers given here collide with in
    another case: a plain dict serves, and signs exactly as ``AWSRequest`` does (a unit test compares).
    """

    __slots__ = ("body", "context", "headers", "method", "params", "url")

    def __init__(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        self.method = "POST"
        self.url = url
        self.body = body
        self.headers = headers
        self.params: dict[str, str] = {}
        self.context: dict[str, Any] = {}


def _request_head(headers: dict[str, str], length: int) -> bytes:
    """The request line and headers of a WriteRecords POST; a line break in a value is refused."""
    if any("\r" in value or "\n" in value for value in headers.values()):
        raise ValueError("a header value holds a line break")
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST / HTTP/1.1\r\n{lines}Content-Length: {length}\r\n\r\n".encode("latin-1")


class TransportWriteClient:
    """A botocore write client whose prebuilt WriteRecords bodies go through ``WriteRecordsTransport``.

    Anything else (other operations, ``meta``, ``exceptions``, WriteRecords with parameters) is the
    botocore client's own.
    """

    def __init__(self, client: Any, transport: WriteRecordsTransport) -> None:
        self._botocore_client = client
        self._transport = transport

    def write_records(self, **parameters: Any) -> dict[str, Any]:
        body = parameters.get(PREBUILT_BODY)
        if body is None:
            return self._botocore_client.write_records(**parameters)  # type: ignore[no-any-return]
        return self._transport.write_records(body)

    def write_many(
        self,
        calls: Sequence[Callable[[], dict[str, Any]]],
        deadline: float,
        lanes: int,
        slots: threading.Semaphore | None = None,
    ) -> list[dict[str, Any] | Exception | None]:
        """One attempt at each call from this thread (``WriteRecordsTransport.write_many``); each of
        ``calls`` builds its parameters (with the prebuilt body) when the call is sent."""
        bodies = [functools.partial(_prebuilt_body, parameters_of) for parameters_of in calls]
        return self._transport.write_many(bodies, deadline, lanes, slots)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._botocore_client, name)


def _prebuilt_body(parameters_of: Callable[[], dict[str, Any]]) -> bytes:
    return parameters_of()[PREBUILT_BODY]  # type: ignore[no-any-return]


def proxy_configured(url: str | None) -> bool:
    """Whether the environment routes Timestream through a proxy (botocore's client handles those)."""
    proxies = urllib.request.getproxies()
    if not proxies:
        return False
    host = urlsplit(url).hostname if url else None
    return not (host and urllib.request.proxy_bypass(host))


_TLS: ssl.SSLContext | None = None
_TLS_LOCK = threading.Lock()


def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every connection, trusting what botocore trusts."""
    global _TLS
    with _TLS_LOCK:
        if _TLS is None:
            bundle = os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True)
            _TLS = ssl.create_default_context(cafile=bundle if isinstance(bundle, str) else None)
        return _TLS
