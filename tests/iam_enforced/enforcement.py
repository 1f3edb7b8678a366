"""moto's IAM authorization, switched on for the roles the templates define, told the resource
of each request, plus the permissions AWS checks that moto never asks about.

docs/testing-iam.md says what moto 5.x checks by itself (moto/core/authorization.py,
moto/iam/access_control.py) and what it ignores; tests/iam_enforced/test_moto_iam.py states each
fact as a test. In short, and why this module exists:

- moto's switch (`INITIAL_NO_AUTH_ACTION_COUNT`) checks every request, the harness's own set-up
  too. `Enforcement(roles)` checks only requests made with credentials of an assumed role in
  `roles`, with moto's own IAMRequest (signature, identity policies, explicit Deny).
- moto asks about the resource `*` for every service but S3, IAM, STS and SQS, and `*` matches
  only a statement whose Resource is `*`. Here each request's resource is named from the request
  (`_RESOLVERS`) for every action the IAM dataset cfn-lint ships gives resource types; such an
  action without a resolver stops the test (`HarnessError`) instead of being asked about `*`.
- moto names actions by signing name (`monitoring:` for CloudWatch): IAM's names are used.
- moto stores inline policies of roles its CloudFormation made as dicts and then cannot evaluate
  them: they are put back as JSON text.
- moto asks for nothing a call implies, and reads a trust policy only within one account (and
  there cannot match an account principal). The harness's own evaluator (`_evaluate`, `_trusts`)
  adds iam:PassRole where a call passes a role, and the trust policy of every role assumed.

Every decision is recorded (`Enforcement.decisions`): a test says which permissions it used.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# The IAM dataset cfn-lint ships (service -> action -> resource types), the same source the
# project's conformance rules read: whether an action has resource-level permissions at all.
_DATASET = "data/AdditionalSpecs/Policies.json"

# moto names an action by the request's signing name; IAM's prefix differs for a few.
_IAM_PREFIX = {"monitoring": "cloudwatch"}
# ...and by the API operation, where IAM's action is named differently.
_IAM_ACTION = {("lambda", "Invoke"): "InvokeFunction"}

PASSED_TO = {
    "cloudformation": "cloudformation.amazonaws.com",
    "ecs": "ecs-tasks.amazonaws.com",
}


class HarnessError(AssertionError):
    """The harness cannot decide a request (a resource it cannot name, a condition it does not
    know): the test stops rather than ask moto about `*` or guess."""


class AccessDenied(AssertionError):
    """The harness's own evaluation denied a permission outside any request moto handles."""


@dataclass(frozen=True)
class Decision:
    role: str  # the role ARN the caller acts as
    action: str  # IAM action, e.g. cloudformation:CreateChangeSet
    resource: str
    allowed: bool
    by: str  # "moto", or what the harness evaluated and why

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "DENIED"
        role = self.role.rpartition("/")[2]
        return f"{verdict}: {role} {self.action} on {self.resource} ({self.by})"


@functools.cache
def _dataset() -> dict[str, Any]:
    import cfnlint

    return json.loads((Path(cfnlint.__file__).parent / _DATASET).read_text())


def resource_types(action: str) -> list[str]:
    service, _, name = action.partition(":")
    actions = _dataset()[service]["Actions"]
    if name.lower() not in actions:
        raise HarnessError(f"{action} is not in the IAM dataset cfn-lint ships")
    return list(actions[name.lower()].get("Resources", []))


class Enforcement:
    """While entered: every request made with credentials of an assumed role in `roles` (role
    ARNs) is authorized by moto against that role's policies, with the request's resource."""

    def __init__(
        self, roles: Iterable[str], withhold: dict[str, Iterable[str]] | None = None
    ) -> None:
        """`withhold`: role ARN -> actions taken out of its Allow statements when the role is
        first used (as `without` does for a role that exists already)."""
        self.roles = frozenset(roles)
        self._withhold = {role: tuple(actions) for role, actions in (withhold or {}).items()}
        self.decisions: list[Decision] = []
        self.problems: list[str] = []
        self._normalized: set[str] = set()
        self._original: Any = None

    # Switching it on --------------------------------------------------------------------------

    def __enter__(self) -> Enforcement:
        from moto.core.authorization import ActionAuthenticatorMixin

        self._original = ActionAuthenticatorMixin.__dict__["_authenticate_and_authorize_action"]
        enforcement = self

        def authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
            enforcement._authorize(response, iam_request_cls, resource)

        ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        from moto.core.authorization import ActionAuthenticatorMixin

        ActionAuthenticatorMixin._authenticate_and_authorize_action = self._original  # type: ignore[method-assign]

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
        """The role's inline policies with `action` taken out of every Allow statement (a
        statement left with no action is dropped), as if the template had not granted it."""
        role = _role(role_arn)
        self._normalize(role_arn)
        saved = dict(role.policies)
        _strip(role, action)
        try:
            yield
        finally:
            role.policies.clear()
            role.policies.update(saved)

    # The check of one request ----------------------------------------------------------------

    def _acting_role(self, response: Any) -> str | None:
        from moto.sts.models import sts_backends
        from moto.utilities.utils import get_partition

        key = response.get_access_key()
        account = response.current_account
        partition = get_partition(getattr(response, "region", None) or "us-east-1")
        assumed = sts_backends[account][partition].get_assumed_role_from_access_key(key)
        if assumed is None or assumed.role_arn not in self.roles:
            return None
        return assumed.role_arn

    def _authorize(self, response: Any, iam_request_cls: type, resource: str) -> None:
        role = self._acting_role(response)
        if role is None:
            return  # the test harness, or a role this enforcement is not about
        self._normalize(role)
        parsed = urlparse(response.uri)
        path = response.raw_path + (f"?{parsed.query}" if parsed.query else "")
        operation = response._get_action()
        request = iam_request_cls(
            account_id=response.current_account,
            method=response.method,
            path=path,
            data=response.data,
            body=response.raw_body,
            headers=response.headers,
            action=operation,
        )
        request.check_signature()
        signing = request._service
        prefix = _IAM_PREFIX.get(signing, signing)
        action = f"{prefix}:{_IAM_ACTION.get((prefix, operation), operation)}"
        request._action = action
        region = request._region
        if resource == "*":
            resources = self._resources(response, action, request.account_id, region)
        else:
            resources = [resource]
        for each in resources:
            if action == "sts:AssumeRole":
                # moto's own check adds, within one account only, a trust evaluation that takes
                # an account principal for no match (and fails on a service principal): the
                # identity policy is evaluated as moto does, the trust by _check_trust below.
                if not _moto_allows(self._policies(role), action, each):
                    self.decisions.append(Decision(role, action, each, False, "moto's evaluator"))
                    request._raise_access_denied()
                self.decisions.append(Decision(role, action, each, True, "moto's evaluator"))
                continue
            try:
                request.check_action_permitted(each)
            except Exception:
                self.decisions.append(Decision(role, action, each, False, "moto"))
                raise
            self.decisions.append(Decision(role, action, each, True, "moto"))
        for implied_action, implied_resource, context, why in _implied(
            response, action, request.account_id, region
        ):
            self._check_implied(role, implied_action, implied_resource, context, why)
        if action == "sts:AssumeRole":
            self._check_trust(role, resources[0])

    def _resources(self, response: Any, action: str, account: str, region: str) -> list[str]:
        if not resource_types(action):
            return ["*"]  # no resource-level permissions: IAM asks about "*" too
        resolver = _RESOLVERS.get(action)
        if resolver is None:
            problem = (
                f"{action} has resource types {resource_types(action)} and the harness cannot "
                "name the resource of the request: add a resolver to tests/iam_enforced/"
                "enforcement.py"
            )
            self.problems.append(problem)
            raise HarnessError(problem)
        return resolver(_Request(response, account, region))

    # Checks moto does not make ---------------------------------------------------------------

    def _check_implied(
        self, role: str, action: str, resource: str, context: dict[str, str], why: str
    ) -> None:
        from moto.core.exceptions import AccessDeniedError

        allowed = _evaluate(self._policies(role), action, resource, context)
        self.decisions.append(Decision(role, action, resource, allowed, f"harness: {why}"))
        if not allowed:
            raise AccessDeniedError(user_arn=role, action=f"{action} on {resource} ({why})")

    def _check_trust(self, caller: str, target: str) -> None:
        """The trust policy of the role assumed (moto checks one only within the caller's own
        account, and there takes an account principal for no match)."""
        from moto.core.exceptions import AccessDeniedError

        try:
            trust = json.loads(_role(target).assume_role_policy_document)
        except LookupError:
            allowed = False
        else:
            allowed = _trusts(trust, caller)
        why = "trust policy of the assumed role"
        self.decisions.append(
            Decision(caller, "sts:AssumeRole", target, allowed, f"harness: {why}")
        )
        if not allowed:
            raise AccessDeniedError(user_arn=caller, action=f"sts:AssumeRole on {target} ({why})")

    def check(self, role: str, action: str, resource: str, why: str) -> None:
        """A permission AWS checks on a call the test does not make (CodePipeline invoking a
        Lambda, say): the role's identity policies, by the harness's evaluator."""
        allowed = _evaluate(self._policies(role), action, resource, {})
        self.decisions.append(Decision(role, action, resource, allowed, f"harness: {why}"))
        if not allowed:
            raise AccessDenied(f"{role} may not {action} on {resource} ({why})")

    def check_stubbed(self, role: str, action: str) -> None:
        """An API moto does not implement (the test stubs it): the role's identity policies,
        evaluated with moto's own evaluator, as moto would for an action without resource types."""
        from botocore.exceptions import ClientError

        if resource_types(action):
            raise HarnessError(f"{action} has resource types; check_stubbed asks about '*' only")
        allowed = _moto_allows(self._policies(role), action, "*")
        self.decisions.append(Decision(role, action, "*", allowed, "moto's evaluator, API stubbed"))
        if not allowed:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": f"{role} may not {action}"}},
                action.partition(":")[2],
            )

    def _normalize(self, role_arn: str) -> None:
        """Inline policies as JSON text, as IAM keeps them (moto's CloudFormation keeps dicts)."""
        if role_arn in self._normalized:
            return
        role = _role(role_arn)
        for name, document in list(role.policies.items()):
            if not isinstance(document, str):
                role.policies[name] = json.dumps(document)
        for action in self._withhold.get(role_arn, ()):
            _strip(role, action)
        self._normalized.add(role_arn)

    def _policies(self, role_arn: str) -> list[Any]:
        self._normalize(role_arn)
        role = _role(role_arn)
        return list(role.policies.values()) + list(role.managed_policies.values())


# moto's state ------------------------------------------------------------------------------------


def _role(arn: str) -> Any:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import PARTITION_NAMES

    _, partition, _, _, account, resource = arn.split(":", 5)
    assert partition in PARTITION_NAMES
    name = resource.rpartition("/")[2]
    try:
        return iam_backends[account][partition].get_role(name)
    except Exception as error:
        raise LookupError(f"no role {arn} in moto") from error


def _strip(role: Any, action: str) -> None:
    """Take `action` out of the Allow statements of the role's inline policies (JSON text)."""
    removed = False
    for name, text in list(role.policies.items()):
        document = json.loads(text)
        kept = []
        for statement in _listed(document["Statement"]):
            actions = _listed(statement.get("Action", []))
            if statement.get("Effect") == "Allow" and action in actions:
                removed = True
                actions = [a for a in actions if a != action]
                if not actions:
                    continue
                statement = {**statement, "Action": actions}
            kept.append(statement)
        role.policies[name] = json.dumps({**document, "Statement": kept})
    assert removed, f"role {role.name} has no Allow statement for {action}"


def _moto_allows(policies: list[Any], action: str, resource: str) -> bool:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    permitted = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return False
        permitted = permitted or result == PermissionResult.PERMITTED
    return permitted


# The harness's own evaluator: identity policies with conditions, trust policies ------------------

_CONDITIONS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, expected: value == expected,
    "StringLike": lambda value, expected: fnmatch.fnmatchcase(value, expected),
    "ArnEquals": lambda value, expected: value == expected,
    "ArnLike": lambda value, expected: fnmatch.fnmatchcase(value, expected),
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _conditions_hold(statement: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, keys in statement.get("Condition", {}).items():
        test = _CONDITIONS.get(operator)
        if test is None:
            raise HarnessError(f"condition operator {operator} is not evaluated by the harness")
        for key, expected in keys.items():
            if key not in context:
                raise HarnessError(f"condition key {key} is not known to the harness here")
            if not any(test(context[key], e) for e in _listed(expected)):
                return False
    return True


def _statement_applies(
    statement: dict[str, Any], action: str, resource: str, context: dict[str, str]
) -> bool:
    if "Action" in statement:
        if not any(_wildcard(a, action, case=False) for a in _listed(statement["Action"])):
            return False
    elif any(_wildcard(a, action, case=False) for a in _listed(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(_wildcard(r, resource) for r in _listed(statement["Resource"])):
            return False
    elif any(_wildcard(r, resource) for r in _listed(statement["NotResource"])):
        return False
    return _conditions_hold(statement, context)


def _evaluate(policies: list[Any], action: str, resource: str, context: dict[str, str]) -> bool:
    """Allowed by some statement and denied by none (identity policies, with `context`)."""
    allowed = False
    for policy in policies:
        if not isinstance(policy, str):
            raise HarnessError("managed policies are not evaluated by the harness")
        for statement in _listed(json.loads(policy)["Statement"]):
            if _statement_applies(statement, action, resource, context):
                if statement["Effect"] == "Deny":
                    return False
                allowed = True
    return allowed


def _trusts(trust: dict[str, Any], caller_role: str) -> bool:
    account = caller_role.split(":")[4]
    partition = caller_role.split(":")[1]
    principals = {"*", account, f"arn:{partition}:iam::{account}:root", caller_role}
    context = {"aws:PrincipalArn": caller_role, "aws:PrincipalAccount": account}
    allowed = False
    for statement in _listed(trust["Statement"]):
        if not any(
            _wildcard(a, "sts:AssumeRole", case=False) for a in _listed(statement["Action"])
        ):
            continue
        principal = statement.get("Principal", {})
        named = principal if principal == "*" else _listed(principal.get("AWS", []))
        if named != "*" and not principals & set(named):
            continue
        if not _conditions_hold(statement, context):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


# Permissions a call needs besides its own action --------------------------------------------------


def _implied(
    response: Any, action: str, account: str, region: str
) -> list[tuple[str, str, dict[str, str], str]]:
    """(action, resource, condition context, why) for each role the call passes to a service."""
    found = []
    if action in (
        "cloudformation:CreateChangeSet",
        "cloudformation:CreateStack",
        "cloudformation:UpdateStack",
    ):
        role = response._get_param("RoleARN")
        if role:
            context = {"iam:PassedToService": PASSED_TO["cloudformation"]}
            found.append(("iam:PassRole", role, context, f"{action} passes RoleARN"))
    if action == "ecs:RunTask":
        request = _Request(response, account, region)
        definition = _task_definition(request, request.param("taskDefinition"))
        overrides = request.param("overrides") or {}
        roles = {
            overrides.get("taskRoleArn") or getattr(definition, "task_role_arn", None),
            overrides.get("executionRoleArn") or getattr(definition, "execution_role_arn", None),
        }
        context = {"iam:PassedToService": PASSED_TO["ecs"]}
        for role in sorted(r for r in roles if r):
            found.append(("iam:PassRole", role, context, "ecs:RunTask starts a task with it"))
    return found


# The resource of a request ------------------------------------------------------------------------


class _Request:
    def __init__(self, response: Any, account: str, region: str) -> None:
        from moto.utilities.utils import get_partition

        self.response = response
        self.account = account
        self.region = region
        self.partition = get_partition(region)

    def param(self, name: str) -> Any:
        value = self.response._get_param(name)
        if value is None and self.response.body:
            with contextlib.suppress(ValueError, TypeError):
                value = json.loads(self.response.body).get(name)
        return value

    def params(self, name: str) -> list[str]:
        value = self.param(name)
        if value is None and hasattr(self.response, "_get_multi_param"):  # query protocol
            value = self.response._get_multi_param(f"{name}.member")
        return list(_listed(value)) if value else []

    def arn(self, service: str, resource: str, *, account: str | None = None) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{account or self.account}:{resource}"


def _cloudformation_stack(request: _Request) -> list[str]:
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[request.account][request.region]
    change_set = request.param("ChangeSetName")
    if change_set and change_set in backend.change_sets:  # an ARN
        return [backend.change_sets[change_set].stack_id]
    name = request.param("StackName")
    if not name:
        return ["*"]  # a call on every stack (DescribeStacks without a name)
    if name.startswith("arn:"):
        return [name]
    for stack in backend.stacks.values():
        if stack.name == name:
            return [stack.stack_id]
    return [request.arn("cloudformation", f"stack/{name}/*")]


def _task_definition(request: _Request, name: str) -> Any:
    from moto.ecs.models import ecs_backends

    try:
        return ecs_backends[request.account][request.region].describe_task_definition(name)
    except Exception:
        return None


def _ecs_run_task(request: _Request) -> list[str]:
    name = request.param("taskDefinition")
    definition = _task_definition(request, name)
    if definition is not None:
        return [definition.arn]
    family = name.rpartition("/")[2]
    return [request.arn("ecs", f"task-definition/{family if ':' in family else family + ':*'}")]


def _ecs_register(request: _Request) -> list[str]:
    from moto.ecs.models import ecs_backends

    family = request.param("family")
    revisions = ecs_backends[request.account][request.region].task_definitions.get(family, {})
    return [request.arn("ecs", f"task-definition/{family}:{max(revisions, default=0) + 1}")]


def _cluster_name(request: _Request) -> str:
    return (request.param("cluster") or "default").rpartition("/")[2]


def _ecs_tasks(request: _Request) -> list[str]:
    tasks = request.param("tasks") or [request.param("task")]
    cluster = _cluster_name(request)
    return [t if t.startswith("arn:") else request.arn("ecs", f"task/{cluster}/{t}") for t in tasks]


def _ecs_list_tasks(request: _Request) -> list[str]:
    instance = request.param("containerInstance")
    if not instance:
        return ["*"]  # no container instance named (Fargate has none): IAM asks about "*"
    cluster = _cluster_name(request)
    return [
        instance
        if instance.startswith("arn:")
        else request.arn("ecs", f"container-instance/{cluster}/{instance}")
    ]


def _log_group_name(request: _Request) -> str:
    identifier = request.param("logGroupIdentifier") or request.param("logGroupName")
    return identifier.split(":log-group:")[-1] if identifier.startswith("arn:") else identifier


def _log_stream(request: _Request) -> list[str]:
    group, stream = _log_group_name(request), request.param("logStreamName")
    return [request.arn("logs", f"log-group:{group}:log-stream:{stream}")]


def _log_group(request: _Request) -> list[str]:
    return [request.arn("logs", f"log-group:{_log_group_name(request)}:*")]


def _ecr_repository(request: _Request) -> list[str]:
    registry = request.param("registryId") or request.account
    return [request.arn("ecr", f"repository/{request.param('repositoryName')}", account=registry)]


def _sns_topic(request: _Request) -> list[str]:
    return [request.param("TopicArn") or request.param("TargetArn")]


def _cloudwatch_alarms(request: _Request) -> list[str]:
    names = request.params("AlarmNames")
    return [request.arn("cloudwatch", f"alarm:{n}") for n in names] or ["*"]


def _lambda_function(request: _Request) -> list[str]:
    name = request.param("FunctionName")
    return [name if name.startswith("arn:") else request.arn("lambda", f"function:{name}")]


_RESOLVERS: dict[str, Callable[[_Request], list[str]]] = {
    **{
        f"cloudformation:{a}": _cloudformation_stack
        for a in (
            "CreateChangeSet",
            "CreateStack",
            "DeleteChangeSet",
            "DeleteStack",
            "DescribeChangeSet",
            "DescribeStackEvents",
            "DescribeStackResources",
            "DescribeStacks",
            "ExecuteChangeSet",
            "GetTemplate",
            "ListChangeSets",
            "UpdateStack",
        )
    },
    "ecs:RunTask": _ecs_run_task,
    "ecs:RegisterTaskDefinition": _ecs_register,
    "ecs:DescribeTasks": _ecs_tasks,
    "ecs:StopTask": _ecs_tasks,
    "ecs:ListTasks": _ecs_list_tasks,
    "logs:GetLogEvents": _log_stream,
    "logs:CreateLogStream": _log_stream,
    "logs:PutLogEvents": _log_stream,
    "logs:FilterLogEvents": _log_group,
    "logs:DescribeLogStreams": _log_group,
    "ecr:DescribeImages": _ecr_repository,
    "ecr:BatchGetImage": _ecr_repository,
    "ecr:PutImage": _ecr_repository,
    "sns:Publish": _sns_topic,
    "cloudwatch:DescribeAlarms": _cloudwatch_alarms,
    "lambda:GetFunction": _lambda_function,
    "lambda:InvokeFunction": _lambda_function,
}


def roles_of(templates: dict[str, dict[str, Any]], accounts: dict[str, str]) -> dict[str, str]:
    """Role name -> role ARN of every AWS::IAM::Role with a RoleName in the templates (stack name
    -> template), in the account the manifest gives each stack (`accounts`)."""
    found = {}
    for stack, body in templates.items():
        for resource in body.get("Resources", {}).values():
            if resource.get("Type") != "AWS::IAM::Role":
                continue
            name = resource.get("Properties", {}).get("RoleName")
            if isinstance(name, str):
                found[name] = f"arn:aws:iam::{accounts[stack]}:role/{name}"
    return found
