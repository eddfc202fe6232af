"""Never let anyone in: secrets stay out of logs and answers, identities never mix, no ambient
credentials in Basic mode, and the table written or read is the configured one whatever the request says."""

from __future__ import annotations

import base64
import contextlib
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connector.app import Connector
from connector.config import Settings
from connector.prom import snappy
from connector.timestream.clients import ClientCache
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, make_record
from prompb import remote_pb2, types_pb2
from tests.doors import Answer, Door, http_api_event, invoke, lambda_with, serving
from tests.helpers import WRITE_HEADERS, LogCapture, basic_auth, write_body
from tests.store_fixtures import DATABASE, KEY_ID, OTHER_KEY_ID, OTHER_SECRET, SECRET, TABLE

OTHER_TABLE = "other_tenant"
OTHER_DATABASE = "otherdb"
WRONG_SECRET = "Wr0ng+Secret/For=Robustness"
UNKNOWN_KEY, UNKNOWN_SECRET = "AKIAUNKNOWNROBUST000", "unknown+Secret/Value=="


def now_ms() -> int:
    return int(time.time() * 1000)


def body_for(metric: str, **labels: str) -> bytes:
    return write_body([([("__name__", metric), ("job", "security"), *sorted(labels.items())], [(now_ms(), 1.0)])])


def secret_forms(key_id: str, secret: str) -> list[str]:
    """Every way a secret could show up: itself, its halves, inside base64 of the Basic credentials."""
    pair = f"{key_id}:{secret}".encode()
    return [
        secret,
        secret[: len(secret) // 2 + 2],
        secret[len(secret) // 2 - 2 :],
        base64.b64encode(pair).decode(),
        base64.b64encode(secret.encode()).decode(),
        urllib.parse.quote(secret, safe=""),
        secret.encode().hex(),
        repr(secret.encode()),
    ]


def assert_no_secret(text: str, forms: list[str]) -> None:
    for form in forms:
        assert form not in text, f"secret material {form!r} found"


# ---- secrets never in logs or answers -------------------------------------------------------------


@pytest.fixture
def other_tables(store: EmbeddedTimestream) -> None:
    store.create_database_and_table(DATABASE, OTHER_TABLE, magnetic_writes=True)
    store.create_database_and_table(OTHER_DATABASE, TABLE, magnetic_writes=True)


def test_secrets_never_appear_in_logs_or_answers(
    door: Door,
    store: EmbeddedTimestream,
    connector_logs: LogCapture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every error path, with known secrets: none of them, in any encoding, in the logs or the answers."""
    good = {"Authorization": basic_auth(KEY_ID, SECRET)}
    valid = body_for("robust_secret_probe")
    answers: list[Answer] = []

    def send(headers: dict[str, str], body: bytes = valid) -> Answer:
        answers.append(door("POST", "/write", {**WRITE_HEADERS, **headers}, body))
        return answers[-1]

    assert send({}).status == 401
    assert send({"Authorization": "Basic " + base64.b64encode(SECRET.encode()).decode()}).status == 401  # no colon
    assert send({"Authorization": "Basic " + "é" + SECRET}).status == 401  # not base64
    assert send({"Authorization": f"Bearer {SECRET}"}).status == 401
    assert send({"Authorization": basic_auth(UNKNOWN_KEY, UNKNOWN_SECRET)}).status == 401
    assert send({"Authorization": basic_auth(KEY_ID, WRONG_SECRET)}).status == 401
    assert send(good, b"\x05not snappy").status == 400
    assert send(good, write_body([([("job", "no-name")], [(now_ms(), 1.0)])])).status == 400
    future = write_body([([("__name__", "robust_secret_future"), ("job", "x")], [(now_ms() + 3_600_000, 1.0)])])
    assert send(good, future).status == 400  # RejectedRecordsException: beyond now + 15 min
    assert send({**good, "Content-Type": "text/plain"}).status == 415
    store.set_faults(throttle=1.0, operations=["WriteRecords"])
    assert send(good).status == 503
    store.set_faults(internal=1.0, operations=["WriteRecords"])
    assert send(good).status == 502
    store.set_faults()
    # An unexpected exception deep in the write path: logged with its traceback, answered 500.
    with monkeypatch.context() as patch:
        patch.setattr(ClientCache, "write_client", _explode)
        assert send(good).status == 500
    assert send(good).status == 204

    records = connector_logs.records()
    assert any(r.get("status") == 401 for r in records) and any(r.get("message") == "unexpected error" for r in records)
    assert any("Traceback" in str(r.get("exception", "")) for r in records)
    captured = capfd.readouterr()
    everything = connector_logs.text + captured.out + captured.err
    everything += "".join(a.text + repr(a.headers) for a in answers)
    for key_id, secret in ((KEY_ID, SECRET), (KEY_ID, WRONG_SECRET), (UNKNOWN_KEY, UNKNOWN_SECRET)):
        assert_no_secret(everything, secret_forms(key_id, secret))


def _explode(self: ClientCache, identity: object) -> object:
    raise RuntimeError("simulated failure while building a client")


# ---- identities never mix -------------------------------------------------------------------------


def test_interleaved_identities_each_sign_with_their_own_key(store: EmbeddedTimestream, settings: Settings) -> None:
    """8 threads x 25 requests, three identities interleaved on one server: every Timestream call is
    signed with its caller's key (the store's per-key call counts match each identity's requests
    exactly), and the wrong secret for a valid key id is refused every time, even while the right
    secret's client is cached and busy."""
    identities = {
        "a": (KEY_ID, SECRET, 204),
        "b": (OTHER_KEY_ID, OTHER_SECRET, 204),
        "wrong": (KEY_ID, WRONG_SECRET, 401),
    }
    plan = [[("a", "b", "wrong")[(thread + i) % 3] for i in range(25)] for thread in range(8)]
    sent = Counter(who for requests in plan for who in requests)
    failures: list[str] = []
    barrier = threading.Barrier(8)
    store.reset_stats()

    with serving(Connector(settings)) as door:

        def worker(requests: list[str]) -> None:
            barrier.wait(timeout=60)
            for who in requests:
                key_id, secret, expected = identities[who]
                body = body_for("robust_identity", who=who)  # one sample: exactly one WriteRecords call
                answer = door("POST", "/write", {**WRITE_HEADERS, "Authorization": basic_auth(key_id, secret)}, body)
                if answer.status != expected:
                    failures.append(f"{who}: {answer.status} {answer.text[:100]}")

        threads = [threading.Thread(target=worker, args=(requests,)) for requests in plan]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not failures, failures[:5]
    by_key = store.stats()["calls_by_access_key"]
    assert by_key == {KEY_ID: sent["a"], OTHER_KEY_ID: sent["b"]}, (by_key, sent)


# ---- Basic mode never uses ambient, profile or role credentials -----------------------------------


@pytest.fixture
def ambient_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid store keys everywhere botocore looks: environment, shared credentials file, profile, config."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = {OTHER_KEY_ID}\naws_secret_access_key = {OTHER_SECRET}\n"
        f"[robust]\naws_access_key_id = {OTHER_KEY_ID}\naws_secret_access_key = {OTHER_SECRET}\n"
    )
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\n[profile robust]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", OTHER_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", OTHER_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "ambient-session-token")
    monkeypatch.setenv("AWS_PROFILE", "robust")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))


@pytest.mark.parametrize("front", ["server", "lambda"])
def test_basic_mode_never_uses_ambient_or_profile_credentials(
    store: EmbeddedTimestream, settings: Settings, ambient_credentials: None, front: str
) -> None:
    # A cold start with that environment: the connector is built after it is set.
    connector = Connector(settings)
    refusals = [
        {},
        {"Authorization": ""},
        {"Authorization": "Basic "},
        {"Authorization": "Bearer x"},
        {"Authorization": basic_auth(UNKNOWN_KEY, UNKNOWN_SECRET)},
        {"Authorization": basic_auth(OTHER_KEY_ID, "")},
    ]
    store.reset_stats()
    with _front(front, connector) as door:
        for headers in refusals:
            answer = door("POST", "/write", {**WRITE_HEADERS, **headers}, body_for("robust_ambient"))
            assert answer.status == 401, (headers, answer.text)
        assert store.stats()["calls_by_access_key"] == {}, "a request without valid credentials reached the store"
        # The environment's key is never used for a request that brings its own either.
        answer = door(
            "POST", "/write", {**WRITE_HEADERS, "Authorization": basic_auth(KEY_ID, SECRET)}, body_for("robust_ambient")
        )
        assert answer.status == 204, answer.text
    assert store.stats()["calls_by_access_key"] == {KEY_ID: 1}


# ---- the table comes from configuration only ------------------------------------------------------

TABLE_HINTS = {
    "query string": ("/write?database=otherdb&table=other_tenant&DatabaseName=otherdb&TableName=other_tenant", {}),
    "headers": (
        "/write",
        {
            "X-Database": OTHER_DATABASE,
            "X-Table": OTHER_TABLE,
            "X-Timestream-Table": OTHER_TABLE,
            "X-Amz-Target": "Timestream_20181101.WriteRecords",
            "Database": OTHER_DATABASE,
            "Table": OTHER_TABLE,
            "X-Scope-OrgID": OTHER_TABLE,
        },
    ),
    "path with table": ("/otherdb/other_tenant/write", {}),
    "path with database": ("/db/tbl/write", {}),
    "path parameters": ("/write/other_tenant", {}),
}


@pytest.mark.parametrize("hint", list(TABLE_HINTS))
def test_writes_go_to_the_configured_table_whatever_the_request_says(
    door: Door,
    query,
    other_tables: None,
    hint: str,  # type: ignore[no-untyped-def]
) -> None:
    path, headers = TABLE_HINTS[hint]
    metric = f"robust_table_{hint.replace(' ', '_')}_{time.monotonic_ns()}"
    answer = door(
        "POST", path, {**WRITE_HEADERS, "Authorization": basic_auth(KEY_ID, SECRET), **headers}, body_for(metric)
    )
    assert answer.status in (204, 404), answer.text
    for database, table in ((DATABASE, OTHER_TABLE), (OTHER_DATABASE, TABLE)):
        assert _count(query, database, table, metric) == 0, f"{hint} reached {database}.{table}"
    assert _count(query, DATABASE, TABLE, metric) == (1 if answer.status == 204 else 0)


def test_lambda_events_cannot_choose_the_table(lambda_door: Door, query, other_tables: None) -> None:  # type: ignore[no-untyped-def]
    metric = "robust_table_event_fields"
    headers = {**WRITE_HEADERS, "Authorization": basic_auth(KEY_ID, SECRET), "X-Table": OTHER_TABLE}
    event = http_api_event(
        "POST",
        "/write",
        headers,
        body_for(metric),
        rawQueryString="table=other_tenant&database=otherdb",
        queryStringParameters={"table": OTHER_TABLE, "database": OTHER_DATABASE},
        pathParameters={"table": OTHER_TABLE, "database": OTHER_DATABASE},
        stageVariables={"DEFAULT_TABLE": OTHER_TABLE, "DEFAULT_DATABASE": OTHER_DATABASE},
    )
    assert invoke(event).status == 204
    assert _count(query, DATABASE, OTHER_TABLE, metric) == 0 and _count(query, OTHER_DATABASE, TABLE, metric) == 0
    assert _count(query, DATABASE, TABLE, metric) == 1


def test_reads_come_from_the_configured_table_whatever_the_request_says(
    door: Door, store: EmbeddedTimestream, other_tables: None
) -> None:
    """The same metric in three tables: a read returns the configured table's series, never the others'."""
    write, _ = boto3_clients(store, KEY_ID, SECRET)
    stamp = now_ms()
    home, foreign, metric = f"home-{stamp}", f"tenant-secret-{stamp}", f"robust_other_tenant_{stamp}"
    for database, table, job in (
        (DATABASE, TABLE, home),
        (DATABASE, OTHER_TABLE, foreign),
        (OTHER_DATABASE, TABLE, foreign),
    ):
        write.write_records(
            DatabaseName=database,
            TableName=table,
            Records=[make_record(metric, "42", time_ms=stamp, dims={"job": job})],
        )
    read = remote_pb2.ReadRequest()
    q = read.queries.add(start_timestamp_ms=stamp - 60_000, end_timestamp_ms=stamp + 60_000)
    q.matchers.add(type=types_pb2.LabelMatcher.EQ, name="__name__", value=metric)
    body = snappy.compress(read.SerializeToString())
    read_headers = {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Read-Version": "0.1.0",
        "Authorization": basic_auth(KEY_ID, SECRET),
    }
    answered = 0
    for path, headers in TABLE_HINTS.values():
        answer = door("POST", path.replace("write", "read"), {**read_headers, **headers}, body)
        assert answer.status in (200, 404), answer.text
        assert foreign.encode() not in answer.body and foreign.encode() not in _inflate(answer.body)
        if answer.status == 200:
            answered += 1
            response = remote_pb2.ReadResponse.FromString(_inflate(answer.body))
            jobs = [
                label.value
                for result in response.results
                for series in result.timeseries
                for label in series.labels
                if label.name == "job"
            ]
            assert jobs == [home], jobs
    assert answered == 2  # the query-string and header variants reach /read; the path variants are 404


# ---- helpers --------------------------------------------------------------------------------------


def _count(query: Callable[[str], list[dict[str, str]]], database: str, table: str, metric: str) -> int:
    rows = query(f'SELECT count(*) AS n FROM "{database}"."{table}" WHERE measure_name = \'{metric}\'')
    return int(rows[0]["n"])


def _inflate(body: bytes) -> bytes:
    try:
        return snappy.decompress(body, 64 << 20)
    except Exception:
        return b""


@contextlib.contextmanager
def _front(front: str, connector: Connector) -> Iterator[Door]:
    """The local server or the Lambda handler in front of ``connector``, as a door."""
    if front == "server":
        with serving(connector) as door:
            yield door
    else:
        with lambda_with(connector):
            yield lambda method, path, headers, body: invoke(http_api_event(method, path, headers, body))
