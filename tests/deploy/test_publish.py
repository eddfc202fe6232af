"""`make publish` end to end, offline: moto's S3 server stands in for S3 in two regions, and everything
the command printed and uploaded is checked there: a bucket per region, in that region; a packaged
template whose code, LICENSE and README are the uploaded objects; a Launch Stack URL per region that
points at that region's uploaded template.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml

from tests.deploy.cfn import ROOT
from tests.e2e.harness import free_port
from tests.tools import missing

pytestmark = pytest.mark.deploy

SAM = ROOT / ".venv-sam" / "bin" / "sam"
BUCKET = "connector-publish-test"
REGIONS = ("us-east-1", "eu-west-1")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# Nothing from this machine may reach real AWS: fake keys, no profile, no instance metadata.
OFFLINE = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true", "SAM_CLI_TELEMETRY": "0"}


@dataclass(frozen=True)
class Published:
    endpoint: str
    stdout: str

    def s3(self, region: str) -> Any:
        return boto3.client("s3", region_name=region, endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    def launch_urls(self) -> dict[str, str]:
        """{region: URL} from the lines ``REGION: Launch Stack URL``."""
        found = {}
        for line in self.stdout.splitlines():
            region, sep, url = line.partition(": Launch Stack ")
            if sep:
                found[region.strip()] = url.strip()
        return found


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not SAM.exists():
        missing("aws-sam-cli", "make sam-tools")
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError(f"moto server exited with {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise RuntimeError("moto server did not answer")


@pytest.fixture(scope="module")
def published(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Published:
    work = tmp_path_factory.mktemp("publish")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(OFFLINE, AWS_ENDPOINT_URL_S3=s3_endpoint)
    run = subprocess.run(
        ["make", "--no-print-directory", "publish", f"BUCKET={BUCKET}", f"REGIONS={','.join(REGIONS)}",
         f"PUBLISH_BUILD={work / 'build'}", f"PUBLISH_OUT={work / 'out'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return Published(s3_endpoint, run.stdout)


def get(published: Published, region: str, s3_url: str) -> bytes:
    parts = urlsplit(s3_url)
    assert parts.scheme == "s3", s3_url
    return published.s3(region).get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()


def uploaded_template(published: Published, region: str) -> dict[str, Any]:
    """The template the region's Launch Stack URL points at, as fetched from the bucket."""
    url = published.launch_urls()[region]
    console = urlsplit(url)
    assert console.netloc == "console.aws.amazon.com" and parse_qs(console.query) == {"region": [region]}
    route, _, query = console.fragment.partition("?")
    assert route == "/stacks/quickcreate"
    params = parse_qs(query)
    assert params["stackName"] == ["prometheus-timestream-connector"]
    template_url = urlsplit(params["templateURL"][0])
    assert template_url.scheme == "https"
    assert template_url.netloc == f"{BUCKET}-{region}.s3.{region}.amazonaws.com"
    key = template_url.path.lstrip("/")
    assert key == f"prometheus-timestream-connector/{VERSION}/template.yml"
    body = published.s3(region).get_object(Bucket=f"{BUCKET}-{region}", Key=key)["Body"].read()
    return yaml.safe_load(body)  # sam package writes intrinsics in their long form


def test_a_bucket_and_a_launch_url_per_region(published: Published) -> None:
    assert set(published.launch_urls()) == set(REGIONS)
    for region in REGIONS:
        location = published.s3(region).get_bucket_location(Bucket=f"{BUCKET}-{region}")["LocationConstraint"]
        assert (location or "us-east-1") == region


@pytest.mark.parametrize("region", REGIONS)
def test_uploaded_template_references_the_uploaded_code(published: Published, region: str) -> None:
    template = uploaded_template(published, region)
    function = template["Resources"]["ConnectorFunction"]["Properties"]
    code_uri = function["CodeUri"]
    assert urlsplit(code_uri).netloc == f"{BUCKET}-{region}", "code must be in the stack's own region"
    with zipfile.ZipFile(io.BytesIO(get(published, region, code_uri))) as archive:
        names = set(archive.namelist())
        assert {"connector/handler.py", "prompb/remote_pb2.py", "boto3/__init__.py"} <= names
        assert archive.read("connector/handler.py") == (ROOT / "connector" / "handler.py").read_bytes()
    assert not any(name.startswith(("tests/", "emulator/")) for name in names)
    assert function["Handler"] == "connector.handler.lambda_handler"


@pytest.mark.parametrize("region", REGIONS)
def test_serverless_repo_metadata_is_complete_and_uploaded(published: Published, region: str) -> None:
    metadata = uploaded_template(published, region)["Metadata"]["AWS::ServerlessRepo::Application"]
    assert metadata["SemanticVersion"] == VERSION
    assert metadata["SpdxLicenseId"] == "Apache-2.0"
    assert get(published, region, metadata["LicenseUrl"]) == (ROOT / "LICENSE").read_bytes()
    assert get(published, region, metadata["ReadmeUrl"]) == (ROOT / "docs" / "deploy.md").read_bytes()


def test_publish_without_a_bucket_says_how_to_call_it() -> None:
    if not SAM.exists():
        missing("aws-sam-cli", "make sam-tools")
    run = subprocess.run(["make", "--no-print-directory", "-s", "publish", "BUCKET="], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "usage: make publish BUCKET=name" in run.stderr
