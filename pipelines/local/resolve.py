"""Resolve a template's intrinsic functions to concrete values, and turn the CloudFormation
`AWS::CodePipeline::Pipeline` properties into the `codepipeline.create_pipeline` request shape.

The resolver knows the few resource types the pipeline stack references and what Ref and
Fn::GetAtt return for each (as the CloudFormation resource reference documents them). Values
CloudFormation would learn only at creation (a KMS key ID) can be given as `refs`/`attributes`,
e.g. from a stack moto deployed; otherwise a plausible fixed value is used. Anything else raises,
so a new intrinsic or resource type cannot slip through unresolved.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class Resolver:
    def __init__(
        self,
        template: dict[str, Any],
        account: str,
        region: str,
        *,
        stack_name: str = "stack",
        refs: dict[str, str] | None = None,
        attributes: dict[tuple[str, str], str] | None = None,
    ) -> None:
        self.resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.parameters: dict[str, Any] = template.get("Parameters", {})
        self.account, self.region = account, region
        self.partition = (
            "aws-cn"
            if region.startswith("cn-")
            else "aws-us-gov"
            if region.startswith("us-gov-")
            else "aws"
        )
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{region}:{account}:stack/"
            f"{stack_name}/{uuid.uuid5(uuid.NAMESPACE_URL, stack_name)}",
        }
        self.refs = dict(refs or {})
        self.attributes = dict(attributes or {})

    # The functions --------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical, attribute = (
                    argument.split(".", 1) if isinstance(argument, str) else argument
                )
                return self.get_att(logical, attribute)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(p)) for p in parts)
            if key == "Fn::Sub":
                return self.sub(argument)
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key.startswith("Fn::") or key == "Condition":
                raise NotImplementedError(f"resolver does not handle {key}")
        return {k: self.resolve(v) for k, v in value.items()}

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.parameters:
            if "Default" not in self.parameters[name]:
                raise KeyError(f"parameter {name} has no default; pass it in refs")
            return self.parameters[name]["Default"]
        resource = self.resources[name]
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            return properties["BucketName"]
        if kind == "AWS::SNS::Topic":
            return self._arn("sns", properties["TopicName"])
        if kind == "AWS::IAM::Role":
            return properties["RoleName"]
        if kind == "AWS::KMS::Key":
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account}/{self.region}/{name}"))
        if kind in ("AWS::CodePipeline::Pipeline", "AWS::Events::Rule"):
            return properties["Name"]
        raise NotImplementedError(f"resolver does not know what Ref returns for {kind}")

    def get_att(self, name: str, attribute: str) -> Any:
        if (name, attribute) in self.attributes:
            return self.attributes[(name, attribute)]
        kind = self.resources[name]["Type"]
        if attribute == "Arn":
            if kind == "AWS::IAM::Role":
                return f"arn:{self.partition}:iam::{self.account}:role/{self.ref(name)}"
            if kind == "AWS::KMS::Key":
                return self._arn("kms", f"key/{self.ref(name)}")
            if kind == "AWS::S3::Bucket":
                return f"arn:{self.partition}:s3:::{self.ref(name)}"
            if kind == "AWS::Events::Rule":
                return self._arn("events", f"rule/{self.ref(name)}")
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return self.ref(name)
        raise NotImplementedError(f"resolver does not know {kind}.{attribute}")

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


# CloudFormation property names -> CodePipeline API ------------------------------------------------

# In CloudFormation only: whether an update of the stack restarts the pipeline.
_CLOUDFORMATION_ONLY = {"RestartExecutionOnUpdate"}


def _convert(value: dict[str, Any], names: dict[str, str], what: str) -> dict[str, Any]:
    unknown = set(value) - set(names) - _CLOUDFORMATION_ONLY
    if unknown:
        raise NotImplementedError(f"{what}: no API name known for {sorted(unknown)}")
    return {names[k]: v for k, v in value.items() if k in names}


def pipeline_declaration(properties: dict[str, Any]) -> dict[str, Any]:
    """Resolved `AWS::CodePipeline::Pipeline` properties -> `create_pipeline(pipeline=...)`."""
    declaration = _convert(
        properties,
        {
            "Name": "name",
            "RoleArn": "roleArn",
            "ArtifactStore": "artifactStore",
            "ArtifactStores": "artifactStores",
            "Stages": "stages",
            "PipelineType": "pipelineType",
            "ExecutionMode": "executionMode",
        },
        "pipeline",
    )
    if "artifactStore" in declaration:
        declaration["artifactStore"] = _artifact_store(declaration["artifactStore"])
    if "artifactStores" in declaration:
        declaration["artifactStores"] = {
            entry["Region"]: _artifact_store(entry["ArtifactStore"])
            for entry in declaration["artifactStores"]
        }
    declaration["stages"] = [_stage(s) for s in declaration["stages"]]
    return declaration


def _artifact_store(store: dict[str, Any]) -> dict[str, Any]:
    result = _convert(
        store,
        {"Type": "type", "Location": "location", "EncryptionKey": "encryptionKey"},
        "artifact store",
    )
    if "encryptionKey" in result:
        result["encryptionKey"] = _convert(
            result["encryptionKey"], {"Id": "id", "Type": "type"}, "encryption key"
        )
    return result


def _stage(stage: dict[str, Any]) -> dict[str, Any]:
    result = _convert(
        stage,
        {
            "Name": "name",
            "Actions": "actions",
            "BeforeEntry": "beforeEntry",
            "OnSuccess": "onSuccess",
            "OnFailure": "onFailure",
        },
        "stage",
    )
    result["actions"] = [_action(a) for a in result["actions"]]
    for key in ("beforeEntry", "onSuccess", "onFailure"):
        if key in result:
            result[key] = _conditions(result[key], key)
    return result


def _conditions(value: dict[str, Any], what: str) -> dict[str, Any]:
    result = _convert(value, {"Result": "result", "Conditions": "conditions"}, what)
    result["conditions"] = [
        _convert(c, {"Result": "result", "Rules": "rules"}, "condition")
        for c in result.get("conditions", [])
    ]
    for condition in result["conditions"]:
        condition["rules"] = [_rule(r) for r in condition.get("rules", [])]
    if not result["conditions"]:
        del result["conditions"]
    return result


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    result = _convert(
        rule,
        {
            "Name": "name",
            "RuleTypeId": "ruleTypeId",
            "Configuration": "configuration",
            "RoleArn": "roleArn",
            "Region": "region",
        },
        f"rule {rule.get('Name')}",
    )
    result["ruleTypeId"] = _convert(
        result["ruleTypeId"],
        {"Category": "category", "Owner": "owner", "Provider": "provider", "Version": "version"},
        "rule type",
    )
    if "configuration" in result:
        result["configuration"] = _configuration(result["configuration"])
    return result


def _action(action: dict[str, Any]) -> dict[str, Any]:
    result = _convert(
        action,
        {
            "Name": "name",
            "ActionTypeId": "actionTypeId",
            "RunOrder": "runOrder",
            "Configuration": "configuration",
            "OutputArtifacts": "outputArtifacts",
            "InputArtifacts": "inputArtifacts",
            "RoleArn": "roleArn",
            "Region": "region",
            "Namespace": "namespace",
            "TimeoutInMinutes": "timeoutInMinutes",
        },
        f"action {action.get('Name')}",
    )
    result["actionTypeId"] = _convert(
        result["actionTypeId"],
        {"Category": "category", "Owner": "owner", "Provider": "provider", "Version": "version"},
        "action type",
    )
    for key in ("inputArtifacts", "outputArtifacts"):
        if key in result:
            result[key] = [_convert(a, {"Name": "name"}, key) for a in result[key]]
    if "configuration" in result:
        result["configuration"] = _configuration(result["configuration"])
    return result


def _configuration(configuration: dict[str, Any]) -> dict[str, str]:
    """An action's or rule's configuration: the API takes strings; CloudFormation passes JSON
    scalars on as their JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in configuration.items()}


# A deployed stack ---------------------------------------------------------------------------------


def physical_ids(clients: Any, account: str, region: str, stack: str) -> dict[str, str]:
    """Logical ID -> physical ID of what CloudFormation created for a stack. A resource listed
    without a physical ID (moto's AWS::Lambda::Permission) is left out: nothing can name it."""
    cfn = clients.client("cloudformation", account, region)
    created = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in created
        if "LogicalResourceId" in r and r.get("PhysicalResourceId")
    }


def live_resolver(
    clients: Any, account: str, region: str, stack: str, template: dict[str, Any]
) -> Resolver:
    """A Resolver whose Ref and Arn values are those of the resources the stack created, and
    whose parameters have the stack's values."""
    # moto lists the resources it does not back without a logical ID: they stay unresolved.
    created = physical_ids(clients, account, region, stack)
    cfn = clients.client("cloudformation", account, region)
    [live] = cfn.describe_stacks(StackName=stack)["Stacks"]
    refs = created | {p["ParameterKey"]: p["ParameterValue"] for p in live.get("Parameters", [])}
    resolver = Resolver(template, account, region, stack_name=stack, refs=refs)
    attributes = {}
    for logical, physical in created.items():
        kind = template["Resources"][logical]["Type"]
        if kind == "AWS::KMS::Key":
            # The ARN KMS gives the key ID (DescribeKey fails in moto on a key CloudFormation
            # made: its policy is stored as a dict, see tests/builders/moto_aws.py).
            attributes[(logical, "Arn")] = resolver.get_att(logical, "Arn")
        elif kind == "AWS::IAM::Role":
            iam = clients.client("iam", account, region)
            attributes[(logical, "Arn")] = iam.get_role(RoleName=physical)["Role"]["Arn"]
    return Resolver(template, account, region, stack_name=stack, refs=refs, attributes=attributes)
