"""The template's alarms and dashboard: optional by parameter, lint-clean both ways, and reading only
metrics the connector really publishes (connector/metrics.py), under the namespace and service
dimension the function is configured with; docs/deploy.md lists every metric."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector import metrics
from tests.deploy import cfn
from tests.tools import missing

pytestmark = pytest.mark.deploy

ALARMS = {"DroppedSamplesAlarm", "FailedSamplesAlarm", "ServerErrorsAlarm", "ThrottlingAlarm", "FunctionErrorsAlarm"}
PUBLISHED = {m.name: m for m in metrics.METRICS}
STACK = {"Ref": "AWS::StackName"}
LAMBDA_METRICS = {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load()


def alarms(resources: dict[str, Any]) -> dict[str, Any]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Each metric an alarm reads: its own, or those of its metric math."""
    if "MetricName" in alarm:
        return [{"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"], "Dimensions": alarm["Dimensions"]}]
    return [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]


def test_function_publishes_under_the_namespace_and_service_the_alarms_read(template: dict[str, Any]) -> None:
    env = template["Resources"]["ConnectorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == metrics.NAMESPACE
    assert env["POWERTOOLS_SERVICE_NAME"] == STACK  # two stacks in one account never mix their metrics


@pytest.mark.parametrize(("alarms_on", "dashboard_on"), [("true", "true"), ("false", "false"), ("true", "false")])
def test_monitoring_is_optional_by_parameter(template: dict[str, Any], alarms_on: str, dashboard_on: str) -> None:
    resources = cfn.deployed_resources(template, CreateAlarms=alarms_on, CreateDashboard=dashboard_on)
    assert set(alarms(resources)) == (ALARMS if alarms_on == "true" else set())
    assert ("ConnectorDashboard" in resources) is (dashboard_on == "true")
    outputs = {n for n, o in template["Outputs"].items() if "Condition" not in o or cfn.conditions(
        template, cfn.parameter_values(template, CreateDashboard=dashboard_on))[o["Condition"]]}
    assert ("DashboardURL" in outputs) is (dashboard_on == "true")


def test_monitoring_is_on_by_default(template: dict[str, Any]) -> None:
    resources = cfn.deployed_resources(template)
    assert set(alarms(resources)) == ALARMS and "ConnectorDashboard" in resources


@pytest.mark.parametrize("topic", ["", "arn:aws:sns:eu-west-1:123456789012:ops"])
def test_alarms_notify_the_topic_only_when_one_is_given(template: dict[str, Any], topic: str) -> None:
    for name, alarm in alarms(cfn.deployed_resources(template, AlarmTopicArn=topic)).items():
        expected = [{"Ref": "AlarmTopicArn"}] if topic else None
        assert alarm.get("AlarmActions") == expected and alarm.get("OKActions") == expected, name
    pattern = template["Parameters"]["AlarmTopicArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, topic) and not re.fullmatch(pattern, "ops-topic")


def test_alarms_read_published_metrics_with_their_dimensions(template: dict[str, Any]) -> None:
    seen = set()
    for name, alarm in alarms(cfn.deployed_resources(template)).items():
        assert alarm["TreatMissingData"] == "notBreaching", name
        for stat in metric_stats(alarm):
            dimensions = {d["Name"]: d["Value"] for d in stat["Dimensions"]}
            if stat["Namespace"] == "AWS/Lambda":
                assert dimensions == {"FunctionName": {"Ref": "ConnectorFunction"}}, name
                continue
            assert stat["Namespace"] == metrics.NAMESPACE, name
            metric = PUBLISHED[stat["MetricName"]]
            assert dimensions.pop("service") == STACK, name
            assert tuple(sorted(dimensions)) in {tuple(sorted(s)) for s in metric.dimension_sets}, name
            seen.add(metric.name)
    assert {"SamplesFailed", "SamplesInvalid", "SamplesRejected", "Answers", "TimestreamThrottles"} <= seen


def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard body with its ${...} substituted, parsed as CloudWatch will parse it."""
    body = template["Resources"]["ConnectorDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    values = {"AWS::Region": "eu-west-1", "AWS::StackName": "my-stack", "ConnectorFunction": "my-function"}
    assert set(re.findall(r"\$\{([^}]+)\}", body)) == set(values)
    return json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], body))


def test_dashboard_shows_only_published_metrics(template: dict[str, Any]) -> None:
    shown, searched = set(), set()
    for widget in dashboard(template)["widgets"]:
        assert widget["properties"]["region"] == "eu-west-1"
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):  # a SEARCH expression over a breakdown dimension
                expression = row[0]["expression"]
                name = re.search(r'MetricName="(\w+)"', expression).group(1)  # type: ignore[union-attr]
                dims = re.search(r"\{PrometheusTimestream,([\w,]+)\}", expression).group(1)  # type: ignore[union-attr]
                assert 'service="my-stack"' in expression
                assert set(dims.split(",")) - {"service"} in [set(s) for s in PUBLISHED[name].dimension_sets]
                searched.add(name)
                continue
            namespace, name, *pairs = [item for item in row if not isinstance(item, dict)]
            dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
            if namespace == "AWS/Lambda":
                assert name in LAMBDA_METRICS and dimensions == {"FunctionName": "my-function"}
                continue
            assert namespace == metrics.NAMESPACE and dimensions.pop("service") == "my-stack"
            assert tuple(sorted(dimensions)) in {tuple(sorted(s)) for s in PUBLISHED[name].dimension_sets}
            shown.add(name)
    assert shown == set(PUBLISHED), "every published metric is on the dashboard"
    assert searched == {"SamplesInvalid", "SamplesRejected", "SamplesFailed"}


def test_docs_list_every_metric() -> None:
    docs = (cfn.ROOT / "docs" / "deploy.md").read_text()
    for metric in metrics.METRICS:
        assert f"`{metric.name}`" in docs, metric.name
        assert re.search(rf"`{metric.prometheus}(_total)?`", docs), metric.prometheus
    for name in ALARMS:
        assert f"`{name}`" in docs, name


def variant(tmp_path: Path, **defaults: str) -> Path:
    """template.yml with other parameter defaults, for `make validate TEMPLATE=...`."""
    text = (cfn.ROOT / "template.yml").read_text()
    for name, value in defaults.items():
        text, count = re.subn(rf'(\n  {name}:\n    Type: String\n    Default: )"[^"]*"', rf'\g<1>"{value}"', text)
        assert count == 1, name
    path = tmp_path / "template.yml"
    path.write_text(text)
    # The function's code and the metadata's files are resolved beside the template.
    for relative in ("deploy", "docs", "LICENSE"):
        (tmp_path / relative).symlink_to(cfn.ROOT / relative)
    loaded = yaml.load(path.read_text(), Loader=cfn.CfnLoader)
    assert {n: loaded["Parameters"][n]["Default"] for n in defaults} == defaults
    return path


@pytest.mark.parametrize("on", ["true", "false"], ids=["monitoring-on", "monitoring-off"])
def test_make_validate_is_clean_with_monitoring_on_and_off(on: str, tmp_path: Path) -> None:
    if not (cfn.ROOT / ".venv-sam" / "bin" / "sam").exists():
        missing("aws-sam-cli", "make sam-tools")
    path = variant(tmp_path, CreateAlarms=on, CreateDashboard=on, AlarmTopicArn="arn:aws:sns:us-east-1:123456789012:t"
                   if on == "true" else "")
    run = subprocess.run(["make", "--no-print-directory", "validate", f"TEMPLATE={path}"], cwd=cfn.ROOT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "is a valid SAM Template" in run.stdout
    assert not re.search(r"^[EW]\d{4} ", run.stdout + run.stderr, re.MULTILINE), run.stdout
