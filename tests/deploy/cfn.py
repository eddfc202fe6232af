"""Just enough CloudFormation to test a template offline: a YAML loader for the short-form tags and the
condition logic (`Fn::If`, `Fn::Equals`, `AWS::NoValue`) evaluated for given parameter values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yml"

NO_VALUE = {"Ref": "AWS::NoValue"}


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref x` into {"Ref": x}, `!Condition c` into {"Condition": c}, `!GetAtt A.B`
    into {"Fn::GetAtt": [A, B]} and any other `!Name v` into {"Fn::Name": v}, the long form CloudFormation
    itself uses."""


def _construct(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):  # the two short forms without the Fn:: prefix
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as stream:
        return yaml.load(stream, Loader=CfnLoader)  # a SafeLoader: no arbitrary objects


def parameter_values(template: dict[str, Any], **overrides: str) -> dict[str, str]:
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    unknown = set(overrides) - set(values)
    assert not unknown, f"not parameters of the template: {unknown}"
    values.update(overrides)
    return values


def conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """Every condition of the template, evaluated for these parameter values."""
    results: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return parameters[node["Ref"]]
        if isinstance(node, dict) and "Condition" in node:
            return evaluate(template["Conditions"][node["Condition"]])
        return evaluate(node) if isinstance(node, dict) else node

    def evaluate(node: dict[str, Any]) -> Any:
        ((function, args),) = node.items()
        if function == "Fn::Equals":
            return str(value(args[0])) == str(value(args[1]))
        if function == "Fn::Not":
            return not value(args[0])
        if function == "Fn::And":
            return all(value(a) for a in args)
        if function == "Fn::Or":
            return any(value(a) for a in args)
        return value(node)

    for name, node in template.get("Conditions", {}).items():
        results[name] = bool(evaluate(node))
    return results


def resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """`node` with every `Fn::If` replaced by its chosen branch and `AWS::NoValue` removed."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return resolve(when_true if conditions[name] else when_false, conditions)
        resolved = {key: resolve(value, conditions) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value != NO_VALUE}
    if isinstance(node, list):
        return [item for item in (resolve(i, conditions) for i in node) if item != NO_VALUE]
    return node


def deployed_resources(template: dict[str, Any], **overrides: str) -> dict[str, Any]:
    """The resources CloudFormation would create for these parameter values, conditions applied."""
    decided = conditions(template, parameter_values(template, **overrides))
    return {
        name: resolve(resource, decided)
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or decided[resource["Condition"]]
    }
