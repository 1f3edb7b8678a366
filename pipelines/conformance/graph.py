"""How the templates refer to each other: roles by ARN, the pipeline's actions, and which stacks
CloudFormation changes as which role. Read from the templates alone, not from the config."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from pipelines.conformance.model import StackTemplate


class RoleRef(NamedTuple):
    stack: StackTemplate
    logical_id: str
    resource: dict[str, Any]

    @property
    def properties(self) -> dict[str, Any]:
        properties: dict[str, Any] = self.resource.get("Properties", {})
        return properties


class ActionRef(NamedTuple):
    stack: StackTemplate  # the pipeline's
    pipeline_id: str
    stage: str
    action: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.pipeline_id}: stage {self.stage}, action {self.action.get('Name')}"

    @property
    def provider(self) -> str:
        return str(self.action.get("ActionTypeId", {}).get("Provider", ""))

    @property
    def configuration(self) -> dict[str, Any]:
        configuration: dict[str, Any] = self.action.get("Configuration", {})
        return configuration

    @property
    def region(self) -> str:
        return str(self.action.get("Region", self.stack.region))


def role_arn(partition: str, account: str, properties: dict[str, Any]) -> str | None:
    """A role's ARN, if its name is fixed in the template."""
    name = properties.get("RoleName")
    if not isinstance(name, str):
        return None
    path = properties.get("Path", "/")
    return f"arn:{partition}:iam::{account}:role{path}{name}"


def roles_by_arn(templates: Sequence[StackTemplate]) -> dict[str, RoleRef]:
    found = {}
    for stack in templates:
        for logical_id, role in stack.resources("AWS::IAM::Role"):
            arn = role_arn(stack.partition, stack.account, role.get("Properties", {}))
            if arn:
                found[arn] = RoleRef(stack, logical_id, role)
    return found


def pipeline_actions(templates: Sequence[StackTemplate]) -> Iterator[ActionRef]:
    for stack in templates:
        for logical_id, pipeline in stack.resources("AWS::CodePipeline::Pipeline"):
            for stage in pipeline.get("Properties", {}).get("Stages", []):
                for action in stage.get("Actions", []):
                    yield ActionRef(stack, logical_id, str(stage.get("Name")), action)


def pipeline_role(stack: StackTemplate, pipeline: dict[str, Any]) -> RoleRef | None:
    """The role a pipeline runs as, when it is made in the same template."""
    arn = pipeline.get("Properties", {}).get("RoleArn")
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        logical_id = arn["Fn::GetAtt"][0]
        resource = stack.body.get("Resources", {}).get(logical_id)
        if resource is not None:
            return RoleRef(stack, logical_id, resource)
    return None


class StoreRef(NamedTuple):
    """One artifact store a pipeline declares."""

    where: str  # ArtifactStore, or ArtifactStores[<region>]
    region: str | None  # None: the pipeline's own region
    store: dict[str, Any]


def artifact_stores(pipeline: dict[str, Any]) -> list[StoreRef]:
    """A pipeline's artifact stores: its one ArtifactStore, or one per region."""
    properties = pipeline.get("Properties", {})
    if "ArtifactStore" in properties:
        return [StoreRef("ArtifactStore", None, properties["ArtifactStore"])]
    return [
        StoreRef(f"ArtifactStores[{s.get('Region')}]", s.get("Region"), s.get("ArtifactStore", {}))
        for s in properties.get("ArtifactStores", [])
    ]


def bucket_key_ids(bucket: dict[str, Any]) -> list[str]:
    """Logical ids of the KMS keys a bucket encrypts with (Fn::GetAtt in its encryption)."""
    rules = (
        bucket.get("Properties", {})
        .get("BucketEncryption", {})
        .get("ServerSideEncryptionConfiguration", [])
    )
    return [
        key["Fn::GetAtt"][0]
        for rule in rules
        if isinstance(
            key := rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID"), dict
        )
        and "Fn::GetAtt" in key
    ]


def cloudformation_service_roles(templates: Sequence[StackTemplate]) -> dict[str, set[str]]:
    """The role ARN CloudFormation acts as -> the stacks the pipeline changes as that role."""
    stacks: dict[str, set[str]] = {}
    for action in pipeline_actions(templates):
        if action.provider != "CloudFormation":
            continue
        role = action.configuration.get("RoleArn")
        name = action.configuration.get("StackName")
        if isinstance(role, str) and isinstance(name, str):
            stacks.setdefault(role, set()).add(name)
    return stacks
