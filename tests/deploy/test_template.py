"""template.yml and samconfig.toml: parameters, the two IAM shapes, logging, routes and outputs."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from tests.deploy import cfn

pytestmark = pytest.mark.deploy

# The official Go connector's parameter names: its users switch by reusing their values.
GO_CONNECTOR_PARAMETERS = {
    "APIGatewayStageName", "MemorySize", "ApiGatewayTimeoutInMillis", "EnableSigV4Auth", "LambdaTimeoutInSeconds",
    "ReadThrottlingBurstLimit", "WriteThrottlingBurstLimit", "DefaultDatabase", "DefaultTable", "LogLevel",
}
TABLE_ARN = {"Fn::Sub": "arn:${AWS::Partition}:timestream:${AWS::Region}:${AWS::AccountId}"
                        ":database/${DefaultDatabase}/table/${DefaultTable}"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load()


def statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement of every role and policy in the deployed resources."""
    found = []
    for resource in resources.values():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            found += document["Statement"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_of_function(resources: dict[str, Any]) -> dict[str, Any]:
    role_ref = resources["ConnectorFunction"]["Properties"]["Role"]
    assert role_ref == {"Fn::GetAtt": ["ConnectorRole", "Arn"]}
    return resources["ConnectorRole"]


def test_parameters_keep_the_go_connector_names_and_defaults(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert set(parameters) >= GO_CONNECTOR_PARAMETERS
    defaults = {name: str(spec.get("Default")) for name, spec in parameters.items()}
    assert defaults["APIGatewayStageName"] == "dev"
    assert defaults["MemorySize"] == "512"
    assert defaults["ApiGatewayTimeoutInMillis"] == "30000"
    assert defaults["LambdaTimeoutInSeconds"] == "30"
    assert defaults["DefaultDatabase"] == "PrometheusDatabase"
    assert defaults["DefaultTable"] == "PrometheusMetricsTable"
    assert defaults["LogLevel"] == "INFO"
    # Basic is the default: the one mode every Prometheus can use for both routes (docs/deploy.md).
    assert defaults["EnableSigV4Auth"] == "false"
    assert "info" in parameters["LogLevel"]["AllowedValues"]  # the Go connector's default value
    for flag in ("EnableSigV4Auth", "CreateTimestreamTable", "EnableMagneticStoreWrites"):
        assert parameters[flag]["AllowedValues"] == ["true", "false"]
    assert {"MemoryStoreRetentionHours", "MagneticStoreRetentionDays"} <= set(parameters)


def test_every_parameter_is_used(template: dict[str, Any]) -> None:
    used: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("Ref"), str):
                used.add(node["Ref"])
            if isinstance(node.get("Fn::Sub"), str):
                used.update(re.findall(r"\$\{([A-Za-z0-9]+)\}", node["Fn::Sub"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk([template["Conditions"], template["Resources"], template["Outputs"]])
    assert set(template["Parameters"]) - used == set()


def test_function_is_python313_arm64_built_by_makefile(template: dict[str, Any]) -> None:
    function = template["Resources"]["ConnectorFunction"]
    props = function["Properties"]
    assert function["Type"] == "AWS::Serverless::Function"
    assert (props["Runtime"], props["Architectures"], props["Handler"]) == (
        "python3.13", ["arm64"], "connector.handler.lambda_handler")
    assert function["Metadata"]["BuildMethod"] == "makefile"
    makefile = cfn.ROOT / props["CodeUri"] / "Makefile"
    assert re.search(r"^build-ConnectorFunction:", makefile.read_text(), re.MULTILINE)
    assert "Policies" not in props  # a SAM-generated role would get managed policies


@pytest.mark.parametrize("sigv4", ["true", "false"])
def test_function_environment(template: dict[str, Any], sigv4: str) -> None:
    resources = cfn.deployed_resources(template, EnableSigV4Auth=sigv4)
    env = resources["ConnectorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["AUTH_MODE"] == ("sigv4" if sigv4 == "true" else "basic")
    assert env["DEFAULT_DATABASE"] == {"Ref": "DefaultDatabase"}
    assert env["DEFAULT_TABLE"] == {"Ref": "DefaultTable"}
    assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert env["REQUEST_TIMEOUT"] == {"Fn::FindInMap": ["RequestBudget", {"Ref": "ApiGatewayTimeoutInMillis"},
                                                        "Seconds"]}


def test_request_budget_stays_below_the_api_gateway_timeout(template: dict[str, Any]) -> None:
    allowed = template["Parameters"]["ApiGatewayTimeoutInMillis"]["AllowedValues"]
    budget = template["Mappings"]["RequestBudget"]
    assert {str(ms) for ms in allowed} == set(budget)
    for ms in allowed:
        assert budget[str(ms)]["Seconds"] == ms // 1000 - 2
        assert ms <= 30000  # HTTP API's integration timeout cap


def test_sigv4_mode_grants_exactly_the_table_and_endpoint_discovery(template: dict[str, Any]) -> None:
    resources = cfn.deployed_resources(template, EnableSigV4Auth="true")
    timestream = [s for s in statements(resources) if any(a.startswith("timestream:") for a in as_list(s["Action"]))]
    assert sorted(timestream, key=str) == sorted([
        {"Effect": "Allow", "Action": ["timestream:WriteRecords", "timestream:Select"], "Resource": TABLE_ARN},
        {"Effect": "Allow", "Action": "timestream:DescribeEndpoints", "Resource": "*"},
    ], key=str)
    for route in ("WriteRoute", "ReadRoute"):
        assert resources[route]["Properties"]["AuthorizationType"] == "AWS_IAM"


def test_basic_mode_role_has_no_timestream_permission(template: dict[str, Any]) -> None:
    resources = cfn.deployed_resources(template, EnableSigV4Auth="false")
    role = role_of_function(resources)
    assert "ManagedPolicyArns" not in role["Properties"]
    for statement in statements(resources):
        for action in as_list(statement["Action"]):
            assert not action.lower().startswith("timestream:") and action != "*", statement
    for route in ("WriteRoute", "ReadRoute"):
        assert resources[route]["Properties"]["AuthorizationType"] == "NONE"


@pytest.mark.parametrize("sigv4", ["true", "false"])
def test_logs_are_scoped_to_the_functions_own_log_group(template: dict[str, Any], sigv4: str) -> None:
    resources = cfn.deployed_resources(template, EnableSigV4Auth=sigv4)
    role = role_of_function(resources)
    assert "ManagedPolicyArns" not in role["Properties"]  # e.g. AWSLambdaBasicExecutionRole: logs on *
    logs = [s for s in statements(resources) if any(a.startswith("logs:") for a in as_list(s["Action"]))]
    assert logs == [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                     "Resource": {"Fn::GetAtt": ["ConnectorLogGroup", "Arn"]}}]
    assert resources["ConnectorFunction"]["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": "ConnectorLogGroup"}}
    group = resources["ConnectorLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    wildcard = [s for s in statements(resources) if s["Resource"] == "*"]
    assert all(s["Action"] == "timestream:DescribeEndpoints" for s in wildcard)
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]


def test_routes_integration_and_throttling(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert resources["ConnectorApi"]["Properties"]["ProtocolType"] == "HTTP"
    integration = resources["ConnectorIntegration"]["Properties"]
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["ConnectorFunction", "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["TimeoutInMillis"] == {"Ref": "ApiGatewayTimeoutInMillis"}
    keys = {resources[r]["Properties"]["RouteKey"] for r in ("WriteRoute", "ReadRoute")}
    assert keys == {"POST /write", "POST /read"}
    stage = resources["ConnectorStage"]["Properties"]
    assert stage["StageName"] == {"Ref": "APIGatewayStageName"}
    assert stage["RouteSettings"] == {
        "POST /write": {"ThrottlingBurstLimit": {"Ref": "WriteThrottlingBurstLimit"},
                        "ThrottlingRateLimit": {"Ref": "WriteThrottlingRateLimit"}},
        "POST /read": {"ThrottlingBurstLimit": {"Ref": "ReadThrottlingBurstLimit"},
                       "ThrottlingRateLimit": {"Ref": "ReadThrottlingRateLimit"}},
    }
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert sorted(p["SourceArn"]["Fn::Sub"].rsplit("/", 2)[-2:][1] for p in permissions) == ["read", "write"]
    assert all(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)


@pytest.mark.parametrize(("create", "expected"), [("true", True), ("false", False)])
def test_create_timestream_table(template: dict[str, Any], create: str, expected: bool) -> None:
    resources = cfn.deployed_resources(template, CreateTimestreamTable=create, EnableMagneticStoreWrites="false")
    assert ("TimestreamTable" in resources) is expected
    assert ("TimestreamDatabase" in resources) is expected
    if expected:
        table = resources["TimestreamTable"]
        assert table["DeletionPolicy"] == "Retain"
        props = table["Properties"]
        assert props["TableName"] == {"Ref": "DefaultTable"}
        assert props["DatabaseName"] == {"Ref": "TimestreamDatabase"}
        assert props["RetentionProperties"] == {
            "MemoryStoreRetentionPeriodInHours": {"Ref": "MemoryStoreRetentionHours"},
            "MagneticStoreRetentionPeriodInDays": {"Ref": "MagneticStoreRetentionDays"},
        }
        assert props["MagneticStoreWriteProperties"] == {"EnableMagneticStoreWrites": False}
        assert resources["TimestreamDatabase"]["Properties"]["DatabaseName"] == {"Ref": "DefaultDatabase"}


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"InvokeWriteURL", "InvokeReadURL", "DefaultDatabase", "DefaultTable"} <= set(outputs)
    for name, path in (("InvokeWriteURL", "/write"), ("InvokeReadURL", "/read")):
        url = outputs[name]["Value"]["Fn::Sub"]
        assert url.startswith("https://${ConnectorApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/")
        assert url.endswith(f"/${{APIGatewayStageName}}{path}")
    assert outputs["DefaultDatabase"]["Value"] == {"Ref": "DefaultDatabase"}
    assert outputs["DefaultTable"]["Value"] == {"Ref": "DefaultTable"}


def test_default_stack_is_basic_auth_on_both_routes(template: dict[str, Any]) -> None:
    resources = cfn.deployed_resources(template)
    assert resources["ConnectorFunction"]["Properties"]["Environment"]["Variables"]["AUTH_MODE"] == "basic"
    for route in ("WriteRoute", "ReadRoute"):
        assert resources[route]["Properties"]["AuthorizationType"] == "NONE"


def test_serverless_repo_metadata_is_complete(template: dict[str, Any]) -> None:
    """What `sam publish` needs, and the repository's own limits (a public app needs a license and version)."""
    app = template["Metadata"]["AWS::ServerlessRepo::Application"]
    project = tomllib.loads((cfn.ROOT / "pyproject.toml").read_text())["project"]
    assert re.fullmatch(r"[a-zA-Z0-9\-]{1,140}", app["Name"])
    assert re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", app["Author"]) and len(app["Author"]) <= 127
    assert 1 <= len(app["Description"]) <= 256
    assert len(app["Labels"]) <= 10 and all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", x) for x in app["Labels"])
    assert app["SemanticVersion"] == project["version"]
    assert app["SpdxLicenseId"] == project["license"]["text"] == "Apache-2.0"
    license_text = (cfn.ROOT / app["LicenseUrl"]).read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert (cfn.ROOT / app["ReadmeUrl"]).is_file()


def test_samconfig_defaults(template: dict[str, Any]) -> None:
    config = tomllib.loads((cfn.ROOT / "samconfig.toml").read_text())["default"]
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    overrides = dict(re.findall(r'(\w+)="([^"]*)"', deploy["parameter_overrides"]))
    assert overrides and set(overrides) <= set(template["Parameters"])
    assert overrides["EnableSigV4Auth"] == "false"
    for name, value in overrides.items():
        allowed = template["Parameters"][name].get("AllowedValues")
        assert allowed is None or value in [str(v) for v in allowed], name
    assert config["build"]["parameters"]["template_file"] == "template.yml"
    assert config["build"]["parameters"]["cached"] is False
