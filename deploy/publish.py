"""Publish the built stack for one-click launch: one bucket per region, because Lambda reads code only
from a bucket in the stack's own region.

    python deploy/publish.py --template .aws-sam/build/template.yaml --bucket NAME --regions R1,R2
        [--prefix P] [--sam PATH] [--out DIR] [--sar]

For each region: creates bucket ``NAME-REGION`` if it is missing, runs ``sam package`` (code zip,
LICENSE and README to the bucket, the template rewritten to point at them), uploads the packaged
template beside them and prints the CloudFormation "Launch Stack" URL; with ``--sar`` it also runs
``sam publish`` for the Serverless Application Repository. S3 calls honour ``AWS_ENDPOINT_URL_S3``
(sam's too), which is how the test points all of it at a local S3.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import yaml

ROOT = Path(__file__).resolve().parents[1]
STACK_NAME = "prometheus-timestream-connector"
TEMPLATE_KEY = "template.yml"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    version = semantic_version(args.template)
    for region in args.regions.split(","):
        bucket = f"{args.bucket}-{region}"
        prefix = f"{args.prefix}/{version}"
        packaged = args.out / region / "packaged.yml"
        ensure_bucket(bucket, region)
        package(args.sam, args.template, bucket, prefix, region, packaged)
        key = upload_template(packaged, bucket, prefix, region)
        print(f"{region}: Launch Stack {launch_url(bucket, key, region)}", flush=True)
        if args.sar:
            run([args.sam, "publish", "--template", str(packaged), "--region", region])
    print(f"The objects must be readable by whoever launches them (s3:GetObject on {args.prefix}/*; "
          "for --sar also for serverlessrepo.amazonaws.com): see docs/deploy.md.", flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy/publish.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, required=True, help="the template sam build wrote")
    parser.add_argument("--bucket", required=True, help="bucket name; the region is appended: NAME-REGION")
    parser.add_argument("--regions", required=True, help="comma-separated, e.g. us-east-1,eu-west-1")
    parser.add_argument("--prefix", default=STACK_NAME, help="key prefix; the version is appended")
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"), help="the sam command")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "publish", help="packaged templates")
    parser.add_argument("--sar", action="store_true", help="also sam publish to the Serverless Application Repository")
    return parser


def semantic_version(template: Path) -> str:
    """The release in the SAR metadata: keys carry it, so a published URL never changes under a stack.

    sam build writes intrinsics in their long form (``Ref:``), which plain YAML reads.
    """
    metadata = yaml.safe_load(template.read_text())["Metadata"]
    return str(metadata["AWS::ServerlessRepo::Application"]["SemanticVersion"])


def ensure_bucket(bucket: str, region: str) -> None:
    s3 = _s3(region)
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    where: dict[str, Any] = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **where)
    print(f"{region}: created bucket {bucket}", flush=True)


def package(sam: str, template: Path, bucket: str, prefix: str, region: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    run([sam, "package", "--template-file", str(template), "--s3-bucket", bucket, "--s3-prefix", prefix,
         "--output-template-file", str(out), "--region", region])


def upload_template(packaged: Path, bucket: str, prefix: str, region: str) -> str:
    key = f"{prefix}/{TEMPLATE_KEY}"
    _s3(region).put_object(Bucket=bucket, Key=key, Body=packaged.read_bytes(), ContentType="text/yaml")
    return key


def launch_url(bucket: str, key: str, region: str, stack_name: str = STACK_NAME) -> str:
    """The console's quick-create link for the template at ``s3://bucket/key``."""
    template_url = f"https://{bucket}.s3.{region}.amazonaws.com/{quote(key)}"
    query = urlencode({"templateURL": template_url, "stackName": stack_name})
    return f"https://console.aws.amazon.com/cloudformation/home?region={region}#/stacks/quickcreate?{query}"


def run(command: list[str]) -> None:
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"publish: {' '.join(command[:2])} failed with exit code {completed.returncode}")


def _s3(region: str) -> Any:
    return boto3.session.Session().client("s3", region_name=region)


if __name__ == "__main__":
    sys.exit(main())
