"""The Lambda artifact as deploy/build_artifact.py (and so `sam build`) makes it: its contents, its
platform, its size, and, for an x86_64 build made the same way, the handler running from it alone under
Python 3.13 against the embedded store, on every event in events/.

Builds need PyPI (or pip's cache) and take a few seconds each; they are made once per session.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy import build_artifact
from tests.deploy.cfn import ROOT
from tests.tools import missing

pytestmark = pytest.mark.deploy

BUILD = ROOT / "deploy" / "build_artifact.py"
EVENTS = sorted((ROOT / "events").glob("*.json"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PINS = dict(dep.replace(" ", "").split("==") for dep in PYPROJECT["project"]["dependencies"])
ZIP_LIMIT = 15 * 1024 * 1024
ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64
KEY_ID, SECRET = "AKIALOCALPROMETHEUS", "local-secret-key"  # the pair in the events' Basic auth
DATABASE, TABLE = "PrometheusDatabase", "PrometheusMetricsTable"


def build(arch: str, out: Path) -> Path:
    subprocess.run([sys.executable, str(BUILD), "build", "--arch", arch, "--out", str(out)], check=True, timeout=600)
    return out


@pytest.fixture(scope="session")
def arm64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("arm64", tmp_path_factory.mktemp("artifact") / "arm64")


@pytest.fixture(scope="session")
def x86_64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("x86_64", tmp_path_factory.mktemp("artifact") / "x86_64")


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def third_party(root: Path) -> set[str]:
    """The files that come from wheels (the first-party ones are compared with the sources instead)."""
    return {f for f in files(root) if not f.startswith(("connector/", "prompb/"))}


def distributions(root: Path) -> dict[str, str]:
    """{normalised name: version} of the dist-info directories in the artifact."""
    found = {}
    for info in root.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def wheel_tags(root: Path, distribution: str) -> list[str]:
    (info,) = root.glob(f"{distribution}-*.dist-info")
    return re.findall(r"^Tag: (\S+)$", (info / "WHEEL").read_text(), re.MULTILINE)


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def test_artifact_has_the_connector_and_its_runtime_dependencies(arm64: Path) -> None:
    present = files(arm64)
    for required in (
        "connector/__init__.py", "connector/handler.py", "connector/app.py", "connector/prom/write_codec.py",
        "connector/timestream/writer.py", "prompb/__init__.py", "prompb/types_pb2.py", "prompb/remote_pb2.py",
        "prompb/write/v2/types_pb2.py", "boto3/__init__.py", "botocore/cacert.pem",
        "botocore/data/endpoints.json", "botocore/data/partitions.json", "botocore/data/_retry.json",
        "botocore/data/sdk-default-configuration.json", "google/protobuf/__init__.py",
        "aws_lambda_powertools/__init__.py", "cramjam/__init__.py",
    ):
        assert required in present, required
    for service in ("timestream-write", "timestream-query", "sts"):
        assert any(re.fullmatch(rf"botocore/data/{service}/[\d-]+/service-2\.json(\.gz)?", f) for f in present)
    sources = {p.relative_to(ROOT / "connector").as_posix() for p in (ROOT / "connector").rglob("*.py")}
    assert {f"connector/{s}" for s in sources} <= present


def test_artifact_ships_unchecked_bytecode_for_the_runtime(arm64: Path) -> None:
    """Lambda's code directory is read-only: without shipped bytecode every cold start compiles."""
    if build_artifact.runtime_python() is None:
        missing("Python 3.13 (the Lambda runtime's version, to compile the artifact)", "install it, or set PYTHON313")
    present = files(arm64)
    sources = [f for f in present if f.endswith(".py") and f.startswith(("connector/", "botocore/", "google/"))]
    missing_pyc = [f for f in sources
                   if f"{f.rsplit('/', 1)[0]}/__pycache__/{f.rsplit('/', 1)[1][:-3]}.cpython-313.pyc" not in present]
    assert sources and not missing_pyc, missing_pyc[:5]
    flags = {int.from_bytes((arm64 / f).read_bytes()[4:8], "little") for f in present if f.endswith(".pyc")}
    assert flags == {0b01}  # hash-based, never checked against the (fixed) file times of the zip


def test_artifact_leaves_out_tests_tools_caches_and_other_services(arm64: Path) -> None:
    present = files(arm64)
    top = {f.split("/", 1)[0] for f in present}
    assert not top & {"tests", "emulator", "bench", "events", "deploy", "proto", "bin", "duckdb", "_pytest", "pytest",
                      "moto", "hypothesis", "mypy", "ruff", "grpc", "grpc_tools", "setuptools", "pip"}
    assert not [f for f in present if f.endswith((".pyi", ".proto"))]
    assert not [f for f in present if f.endswith(".pyc") and not f.endswith(".cpython-313.pyc")]
    assert not [f for f in present if re.search(r"\.dist-info/(RECORD|INSTALLER|REQUESTED|direct_url\.json)$", f)]
    services = {p.name for p in (arm64 / "botocore" / "data").iterdir() if p.is_dir()}
    assert services == {"timestream-write", "timestream-query", "sts"}
    assert not (arm64 / "boto3" / "data").exists()
    dev_only = {re.split(r"[=<>\[ ]", d)[0].lower() for extra in PYPROJECT["project"]["optional-dependencies"].values()
                for d in extra}
    assert not dev_only & set(distributions(arm64)), "a dev or local-only package is in the artifact"


def test_artifact_pins_are_exactly_pyproject(arm64: Path) -> None:
    installed = distributions(arm64)
    for name, version in PINS.items():
        assert installed[re.sub(r"[-_.]+", "-", name).lower()] == version, name
    assert installed["cramjam"] == PINS["cramjam"]


def test_arm64_binaries_are_aarch64_manylinux(arm64: Path) -> None:
    cramjam = wheel_tags(arm64, "cramjam")
    assert cramjam and all(t.endswith("manylinux_2_28_aarch64") and t.startswith("cp313") for t in cramjam), cramjam
    protobuf = wheel_tags(arm64, "protobuf")
    assert protobuf and all(t.endswith("_aarch64") for t in protobuf), protobuf
    shared = [p for p in arm64.rglob("*.so*") if p.is_file()]
    assert {p.name.split(".")[0] for p in shared} >= {"cramjam", "_message"}
    assert {p.relative_to(arm64).as_posix(): elf_machine(p) for p in shared} == {
        p.relative_to(arm64).as_posix(): ELF_MACHINE["arm64"] for p in shared}


def test_zip_is_small_and_reproducible(arm64: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    subprocess.run([sys.executable, str(BUILD), "zip", str(arm64), str(first)], check=True, capture_output=True)
    subprocess.run([sys.executable, str(BUILD), "zip", str(arm64), str(second)], check=True, capture_output=True)
    assert first.stat().st_size < ZIP_LIMIT, f"{first.stat().st_size / 1e6:.1f} MB"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert set(archive.namelist()) == files(arm64)
        assert archive.testzip() is None


def test_x86_64_build_differs_only_in_binaries(arm64: Path, x86_64: Path) -> None:
    def plain(root: Path) -> set[str]:
        return {f for f in third_party(root) if not re.search(r"\.so(\.|$)|\.dist-info/|\.libs/", f)}

    assert plain(arm64) == plain(x86_64)
    shared = [p for p in x86_64.rglob("*.so*") if p.is_file()]
    assert shared and all(elf_machine(p) == ELF_MACHINE["x86_64"] for p in shared)


# Runs in Python 3.13 with -I -S: no site-packages, no user site, no PYTHON* variables, no cwd on the
# path, so everything it imports comes from the artifact or the standard library.
DRIVER = r"""
import json, sys, sysconfig
artifact, results, *events = sys.argv[1:]
sys.path.insert(0, artifact)

class Context:
    function_name = "ConnectorFunction"
    memory_limit_in_mb = 512
    aws_request_id = "test"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ConnectorFunction"
    def get_remaining_time_in_millis(self):
        return 30000

from connector.handler import lambda_handler
answers = [lambda_handler(json.load(open(path)), Context()) for path in events]
stdlib = sysconfig.get_paths()["stdlib"]
foreign = sorted(name for name, module in list(sys.modules.items())
                 if getattr(module, "__file__", None)
                 and not module.__file__.startswith((artifact, stdlib)))
json.dump({"answers": answers, "foreign": foreign, "version": list(sys.version_info[:2])}, open(results, "w"))
"""


@pytest.fixture(scope="module")
def store() -> Iterator[Any]:
    from emulator.server import EmbeddedTimestream

    with EmbeddedTimestream(credentials={KEY_ID: SECRET}) as running:
        # The captured requests keep their real, ageing timestamps: magnetic writes take the old ones.
        running.create_database_and_table(DATABASE, TABLE, memory_retention_hours=24, magnetic_writes=True)
        yield running


def test_handler_runs_from_the_artifact_alone_under_python313(x86_64: Path, store: Any, tmp_path: Path) -> None:
    python = build_artifact.runtime_python()
    if python is None:
        missing("Python 3.13 (the Lambda runtime's version)", "install it, or point PYTHON313 at one")
    assert EVENTS, "events/ is empty: run deploy/make_events.py"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "AWS_REGION": "us-east-1",
        "DEFAULT_DATABASE": DATABASE, "DEFAULT_TABLE": TABLE, "AUTH_MODE": "basic", "LOG_LEVEL": "WARNING",
        "TIMESTREAM_WRITE_ENDPOINT": store.url, "TIMESTREAM_QUERY_ENDPOINT": store.url,
        # Nothing from this machine may stand in for the key pair in the events.
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    results = tmp_path / "results.json"
    run = subprocess.run([python, "-I", "-S", "-c", DRIVER, str(x86_64), str(results), *map(str, EVENTS)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(results.read_text())
    assert outcome["version"] == [3, 13]
    assert outcome["foreign"] == [], "imported from outside the artifact"
    for path, answer in zip(EVENTS, outcome["answers"], strict=True):
        check_well_formed(path, answer)
        if path.name.startswith("write"):
            assert answer["statusCode"] == 204, (path.name, base64.b64decode(answer["body"]))
            assert int(answer["headers"]["X-Prometheus-Remote-Write-Samples-Written"]) > 0
        else:
            assert answer["statusCode"] in (200, 501), (path.name, base64.b64decode(answer["body"]))
            check_read_answer(answer)
    assert stored_rows(store) > 0


def check_well_formed(path: Path, answer: dict[str, Any]) -> None:
    assert set(answer) >= {"statusCode", "headers", "body", "isBase64Encoded"}, path.name
    assert isinstance(answer["statusCode"], int)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in answer["headers"].items())
    assert answer["isBase64Encoded"] is True
    base64.b64decode(answer["body"], validate=True)
    if "-rest" in path.name:
        assert "multiValueHeaders" in answer  # payload 1.0 responses


def check_read_answer(answer: dict[str, Any]) -> None:
    body = base64.b64decode(answer["body"])
    content_type = answer["headers"].get("Content-Type", "")
    if answer["statusCode"] == 501:
        assert content_type.startswith("text/plain") and body.strip()
        return
    import cramjam

    from prompb import remote_pb2

    assert answer["headers"].get("Content-Encoding") == "snappy"
    decoded = bytes(cramjam.snappy.decompress_raw(body))
    if content_type.startswith("application/x-protobuf"):
        response = remote_pb2.ReadResponse()
        response.ParseFromString(decoded)
        assert len(response.results) == 1  # the captured request has one query
    else:
        assert content_type.startswith("application/x-streamed-protobuf")


def stored_rows(store: Any) -> int:
    from emulator.testing import boto3_clients

    _, query = boto3_clients(store, KEY_ID, SECRET)
    result = query.query(QueryString=f'SELECT count(*) FROM "{DATABASE}"."{TABLE}"')
    return int(result["Rows"][0]["Data"][0]["ScalarValue"])


def test_sam_build_makes_the_same_artifact(arm64: Path, tmp_path: Path) -> None:
    sam = ROOT / ".venv-sam" / "bin" / "sam"
    if not sam.exists():
        missing("aws-sam-cli", "make sam-tools")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    build_dir = tmp_path / "build"
    run = subprocess.run([str(sam), "build", "--template", "template.yml", "--build-dir", str(build_dir)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    built = build_dir / "ConnectorFunction"
    assert third_party(built) == third_party(arm64)
    sources = {f"connector/{p.relative_to(ROOT / 'connector').as_posix()}" for p in (ROOT / "connector").rglob("*.py")}
    ours = {f for f in files(built) if f.startswith("connector/")}
    assert {f for f in ours if f.endswith(".py")} == sources
    assert ours - sources == {f for f in files(arm64) if f.startswith("connector/") and f.endswith(".pyc")}
