"""moto's change sets, made to behave like CloudFormation's where the verbs depend on it.

1. Outputs and exports. moto's ExecuteChangeSet creates the resources, but the stack keeps the
   outputs of the empty template its change set made it with, no export is registered, and the
   stack cannot see the region's exports, so a service stack cannot import its environment's
   log key. Here the stack sees the exports, and after an execution its outputs are rebuilt
   from the template and its exports registered, as create_stack does in moto and
   ExecuteChangeSet does in CloudFormation.
2. A resource that fails. moto raises the resource's error out of ExecuteChangeSet and leaves
   what it created. CloudFormation accepts the execution, records CREATE_FAILED for the
   resource, deletes what it had created and ends in ROLLBACK_COMPLETE; that is replayed here
   (for creations, the only failure these tests provoke), with the resource's own error as
   the reason.
3. A replaced task definition. When ImageUri changes, moto registers a new task definition
   revision, but with the template's PascalCase keys (`Image`, where its create path and ECS
   say `image`), and leaves the ECS service on the old revision because the service's own
   properties did not change; CloudFormation updates the service to the new revision (its Ref
   changed). After an update, the keys are put in ECS's form and each service of the stack is
   pointed at its stack's task definition.
4. Parameters. moto keeps a stack's parameters from its creation, so a later change set that
   returns ImageUri to its first value looks like "no changes" to moto; here an executed
   update records its parameters, as CloudFormation does.
5. A change set's changes. moto lists a change set's changes from the template alone, so a
   change set that changes only a parameter (a new ImageUri: every release) lists none, where
   CloudFormation lists the resources that reference it as Modify (moto's own update path does
   see them). Here the listed changes take the parameters into account the way moto's update
   does: a resource whose JSON is unchanged but which Refs a changed parameter is Modify.
   (CloudFormation would also list resources that depend on a modified one, e.g. the service
   on its replaced task definition; moto and this patch do not.)
6. A created task definition's roles and sizes (`cloudformation_like_task_definitions`). moto
   registers an `AWS::ECS::TaskDefinition` with its family, containers, volumes and memory
   only, dropping TaskRoleArn, ExecutionRoleArn, NetworkMode, RequiresCompatibilities, Cpu and
   RuntimePlatform, which ECS keeps. The rehearsal reads the task role of a runner's task
   definition (the role its job acts as) and registers release revisions from it, as the
   invoker does, so on creation those properties are registered too. Updates keep moto's own
   path (3. above handles what the service stacks need of it).
7. A change set that changes nothing. CloudFormation accepts CreateChangeSet and the change set
   ends FAILED, ExecutionStatus UNAVAILABLE, with the StatusReason "The submitted information
   didn't contain changes. Submit different information to create a change set." (StatusReason
   "shows the error message":
   https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html).
   moto's backend records exactly that, but its request handler refuses the call first with a
   ValidationError ("No updates are to be performed.") whenever parameters are passed. Here that
   early refusal is switched off for CreateChangeSet requests only (UpdateStack keeps it, as
   CloudFormation's UpdateStack refuses), so the backend's FAILED change set is what callers see.
8. Sibling change sets. "When you execute a change set, CloudFormation deletes all other change
   sets associated with the stack because they aren't valid for the updated stack"
   (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html).
   moto keeps them, executable against a stack they no longer describe. Here they are deleted
   when the execution starts, whatever its outcome; the executed one stays, as in AWS. And a
   change set that cannot be executed (FAILED, or executed already) is refused with
   InvalidChangeSetStatus, as ExecuteChangeSet refuses it, where moto would carry it out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from moto.cloudformation.exceptions import CloudFormationError

from pipelines.local.patching import patched, stored

LOGICAL_ID = "_pipelines_logical_id"
RESOURCE_TYPE = "_pipelines_resource_type"


class InvalidChangeSetStatus(CloudFormationError):
    """ExecuteChangeSet's refusal of a change set that is not AVAILABLE (botocore's
    InvalidChangeSetStatusException: code InvalidChangeSetStatus, HTTP 400)."""

    code = "InvalidChangeSetStatus"

    def __init__(self, change_set: Any) -> None:
        super().__init__(
            f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status "
            f"of [{change_set.status}]"
        )


@contextlib.contextmanager
def cloudformation_like_change_sets() -> Iterator[None]:
    from moto.cloudformation import models, parsing, responses

    original_execute = stored(models.CloudFormationBackend, "execute_change_set")
    original_create = stored(parsing, "parse_and_create_resource")
    original_diff: Callable[[Any], list[Any]] = stored(models.ChangeSet, "diff")
    original_request: Callable[[Any], Any] = stored(
        responses.CloudFormationResponse, "create_change_set"
    )

    def create_resource(
        logical_id: str, resource_json: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return original_create(logical_id, resource_json, *args, **kwargs)
        except Exception as error:
            setattr(error, LOGICAL_ID, logical_id)
            setattr(error, RESOURCE_TYPE, resource_json.get("Type", ""))
            raise

    def execute(backend: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = backend.describe_change_set(change_set_name)
        if (change_set.status, change_set.execution_status) != ("CREATE_COMPLETE", "AVAILABLE"):
            raise InvalidChangeSetStatus(change_set)
        stack = backend.stacks[change_set.stack_id]
        # create_stack hands a new stack the region's exports; a change set's stack gets none.
        stack.cross_stack_resources = backend.exports
        stack.resource_map.cross_stack_resources = backend.exports
        _delete_siblings(backend, change_set)
        try:
            original_execute(backend, change_set_name, stack_name)
        except Exception as error:
            if change_set.change_set_type != "CREATE" or not hasattr(error, LOGICAL_ID):
                raise
            _roll_back_creation(stack, change_set, error)
            return
        stack._parse_template()
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            backend.exports[export.name] = export
        if change_set.change_set_type == "UPDATE":
            stack.parameters = dict(change_set.parameters)
            _follow_task_definitions(stack)

    def diff(change_set: Any) -> list[Any]:
        if change_set.change_set_type != "UPDATE" or not change_set.parameters:
            return original_diff(change_set)
        resource_map = change_set.stack.resource_map
        by_action = resource_map.build_resource_diff(
            change_set.template_dict, change_set.parameters
        )
        new, old = change_set.template_dict["Resources"], resource_map._resource_json_map
        return [
            models.Change(
                action=action,
                logical_resource_id=name,
                resource_type=(old if action == "Remove" else new)[name]["Type"],
            )
            for action in ("Add", "Modify", "Remove")
            for name in by_action[action]
        ]

    def create_change_set_request(response: Any) -> Any:
        # One handler object per request: its own early refusal is switched off, no other's (7.).
        with patched(response, "_validate_different_update", _accept_unchanged):
            return original_request(response)

    with contextlib.ExitStack() as patches:
        patches.enter_context(
            patched(
                responses.CloudFormationResponse, "create_change_set", create_change_set_request
            )
        )
        patches.enter_context(patched(parsing, "parse_and_create_resource", create_resource))
        patches.enter_context(patched(models.CloudFormationBackend, "execute_change_set", execute))
        patches.enter_context(patched(models.ChangeSet, "diff", diff))
        yield


def _accept_unchanged(*args: Any) -> None:
    """Lets an unchanged template and parameters through to moto's backend, which records the
    change set as FAILED with CloudFormation's StatusReason (7.)."""


def _delete_siblings(backend: Any, executed: Any) -> None:
    """The stack's other change sets, deleted as ExecuteChangeSet deletes them (8.)."""
    siblings = [
        change_set_id
        for change_set_id, change_set in backend.change_sets.items()
        if change_set.stack_id == executed.stack_id and change_set is not executed
    ]
    for change_set_id in siblings:
        backend.delete_change_set(change_set_id)


def _roll_back_creation(stack: Any, change_set: Any, error: Exception) -> None:
    from moto.cloudformation.models import Event

    logical = getattr(error, LOGICAL_ID)
    reason = getattr(error, "message", None) or str(error)
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical,
            physical_resource_id="",
            resource_type=getattr(error, RESOURCE_TYPE),
            resource_status="CREATE_FAILED",
            resource_status_reason=reason,
            resource_properties=None,
        )
    )
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason=f"The following resource(s) failed to create: [{logical}]. "
        "Rollback requested by user.",
    )
    with contextlib.suppress(Exception):
        stack.resource_map.delete()
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")
    change_set.execution_status = "EXECUTE_FAILED"


def _follow_task_definitions(stack: Any) -> None:
    from moto.core.utils import pascal_to_camelcase, remap_nested_keys
    from moto.ecs.models import Service, TaskDefinition

    resources = list(stack.resource_map._parsed_resources.values())
    task_definitions = [r for r in resources if isinstance(r, TaskDefinition)]
    if len(task_definitions) != 1:
        return
    [task_definition] = task_definitions
    containers = task_definition.container_definitions
    if containers and "Image" in containers[0]:
        task_definition.container_definitions = remap_nested_keys(containers, pascal_to_camelcase)
    for service in (r for r in resources if isinstance(r, Service)):
        service.task_definition = task_definition.arn


# Properties of AWS::ECS::TaskDefinition moto's CloudFormation drops, and the keyword of moto's
# register_task_definition each goes to.
_TASK_DEFINITION_PROPERTIES = {
    "TaskRoleArn": "task_role_arn",
    "ExecutionRoleArn": "execution_role_arn",
    "NetworkMode": "network_mode",
    "RequiresCompatibilities": "requires_compatibilities",
    "Cpu": "cpu",
    "RuntimePlatform": "runtime_platform",
}


@contextlib.contextmanager
def cloudformation_like_task_definitions() -> Iterator[None]:
    """Task definitions created by moto's CloudFormation keep their roles and sizes (6.)."""
    from moto.core.utils import pascal_to_camelcase, remap_nested_keys
    from moto.ecs import models

    # The classmethod object itself: its function is called with the class it is called on.
    original = stored(models.TaskDefinition, "create_from_cloudformation_json")

    def create(
        cls: type[Any],
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        extra = {
            keyword: properties[key]
            for key, keyword in _TASK_DEFINITION_PROPERTIES.items()
            if properties.get(key) is not None
        }
        if not extra:
            return original.__func__(
                cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        if "runtime_platform" in extra:
            extra["runtime_platform"] = remap_nested_keys(
                extra["runtime_platform"], pascal_to_camelcase
            )
        return models.ecs_backends[account_id][region_name].register_task_definition(
            family=properties.get("Family", f"task-definition-{resource_name}"),
            container_definitions=remap_nested_keys(
                properties.get("ContainerDefinitions", []), pascal_to_camelcase
            ),
            volumes=remap_nested_keys(properties.get("Volumes", []), pascal_to_camelcase),
            memory=properties.get("Memory"),
            **extra,
        )

    with patched(models.TaskDefinition, "create_from_cloudformation_json", classmethod(create)):
        yield
