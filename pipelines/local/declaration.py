"""The pipeline declaration as typed data, parsed once from the API shape resolve.py makes.

`parse_pipeline` reads `create_pipeline(pipeline=...)`'s request shape (what
`resolve.pipeline_declaration` makes of the pipeline stack's `AWS::CodePipeline::Pipeline`) into
frozen dataclasses. Only the shape is checked here: a missing name, a list that is not a list, a
configuration value that is not a string is a RehearsalError naming where it is. Whether the
rehearsal can interpret what a well-formed declaration says (its action types, modes, rules) is
checks.py's; the declaration's other keys (artifact stores, the pipeline's role and type) are
not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from pipelines.local.execution import RehearsalError


class TypeId(NamedTuple):
    """An action's or a rule's type: category/owner/provider/version."""

    category: str
    owner: str
    provider: str
    version: str

    def __str__(self) -> str:
        return "/".join(self)


@dataclass(frozen=True)
class Action:
    name: str
    type: TypeId
    run_order: int
    configuration: Mapping[str, str]  # as declared: variables not resolved
    input_artifacts: tuple[str, ...]
    output_artifacts: tuple[str, ...]
    role_arn: str | None
    region: str | None  # None: the pipeline's
    namespace: str | None  # where its output variables go
    timeout_minutes: int | None = None  # a manual approval's TimeoutInMinutes


@dataclass(frozen=True)
class Rule:
    name: str
    type: TypeId
    configuration: Mapping[str, str]
    role_arn: str | None
    region: str | None


@dataclass(frozen=True)
class Condition:
    result: str | None  # ROLLBACK | FAIL (checks.py)
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Conditions:
    """A stage's onSuccess or onFailure."""

    result: str | None  # onFailure's own result: ROLLBACK | FAIL
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    actions: tuple[Action, ...]
    on_success: Conditions | None
    on_failure: Conditions | None
    before_entry: Conditions | None = None

    def run_orders(self) -> list[tuple[Action, ...]]:
        """The actions grouped by run order, lowest first; each group in declaration order."""
        orders = sorted({a.run_order for a in self.actions})
        return [tuple(a for a in self.actions if a.run_order == order) for order in orders]


@dataclass(frozen=True)
class Pipeline:
    name: str
    execution_mode: str
    stages: tuple[Stage, ...]


def parse_pipeline(declaration: Mapping[str, Any]) -> Pipeline:
    """The declaration in `create_pipeline`'s request shape, as typed data."""
    name = _Object(declaration, "the pipeline declaration").text("name")
    pipeline = _Object(declaration, f"pipeline {name}")
    return Pipeline(
        name=name,
        execution_mode=pipeline.optional_text("executionMode") or "SUPERSEDED",
        stages=tuple(_stage(s) for s in pipeline.objects("stages", "stage", required=True)),
    )


def _stage(stage: _Object) -> Stage:
    return Stage(
        name=stage.text("name"),
        actions=tuple(_action(a) for a in stage.objects("actions", "action", required=True)),
        on_success=_conditions(stage.optional_object("onSuccess")),
        on_failure=_conditions(stage.optional_object("onFailure")),
        before_entry=_conditions(stage.optional_object("beforeEntry")),
    )


def _action(action: _Object) -> Action:
    return Action(
        name=action.text("name"),
        type=_type_id(action.required_object("actionTypeId"), default_version=None),
        run_order=action.integer("runOrder", default=1),
        configuration=action.strings("configuration"),
        input_artifacts=tuple(a.text("name") for a in action.objects("inputArtifacts")),
        output_artifacts=tuple(a.text("name") for a in action.objects("outputArtifacts")),
        role_arn=action.optional_text("roleArn"),
        region=action.optional_text("region"),
        namespace=action.optional_text("namespace"),
        timeout_minutes=(
            action.integer("timeoutInMinutes", default=0)
            if "timeoutInMinutes" in action.value
            else None
        ),
    )


def _conditions(block: _Object | None) -> Conditions | None:
    if block is None:
        return None
    return Conditions(
        result=block.optional_text("result"),
        conditions=tuple(
            Condition(
                result=condition.optional_text("result"),
                rules=tuple(_rule(r) for r in condition.objects("rules", "rule")),
            )
            for condition in block.objects("conditions")
        ),
    )


def _rule(rule: _Object) -> Rule:
    return Rule(
        name=rule.text("name"),
        # A rule type's version defaults to 1, as in CodePipeline.
        type=_type_id(rule.required_object("ruleTypeId"), default_version="1"),
        configuration=rule.strings("configuration"),
        role_arn=rule.optional_text("roleArn"),
        region=rule.optional_text("region"),
    )


def _type_id(value: _Object, default_version: str | None) -> TypeId:
    version = value.optional_text("version") or default_version
    if version is None:
        version = value.text("version")  # fails: it is missing
    return TypeId(value.text("category"), value.text("owner"), value.text("provider"), version)


class _Object:
    """One JSON object of the declaration; each reading of it fails naming where it is."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, Mapping):
            raise RehearsalError(f"{where}: {value!r} is not an object")
        self.value: Mapping[str, Any] = value
        self.where = where

    def _fail(self, key: str, problem: str) -> RehearsalError:
        return RehearsalError(f"{self.where}: {key} {problem}")

    def text(self, key: str) -> str:
        if key not in self.value:
            raise self._fail(key, "is missing")
        return self._text(key)

    def optional_text(self, key: str) -> str | None:
        return self._text(key) if key in self.value else None

    def _text(self, key: str) -> str:
        value = self.value[key]
        if not isinstance(value, str):
            raise self._fail(key, f"is {value!r}, not a string")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.value.get(key, default)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"is {value!r}, not an integer")
        return value

    def strings(self, key: str) -> dict[str, str]:
        """A configuration: names to strings (resolve.py turns JSON scalars into their text)."""
        found = self.optional_object(key)
        if found is None:
            return {}
        return {name: found._text(name) for name in found.value}

    def optional_object(self, key: str) -> _Object | None:
        return _Object(self.value[key], f"{self.where}, {key}") if key in self.value else None

    def required_object(self, key: str) -> _Object:
        found = self.optional_object(key)
        if found is None:
            raise self._fail(key, "is missing")
        return found

    def objects(self, key: str, named: str | None = None, required: bool = False) -> list[_Object]:
        """The list of objects under `key`; each is said to be `<named> <its name>` in errors,
        if it has a name, else `<key>[<index>]`."""
        if key not in self.value:
            if required:
                raise self._fail(key, "is missing")
            return []
        items = self.value[key]
        if not isinstance(items, list):
            raise self._fail(key, f"is {items!r}, not a list")
        found = []
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, Mapping) else None
            label = f"{named} {name}" if named and isinstance(name, str) else f"{key}[{index}]"
            found.append(_Object(item, f"{self.where}, {label}"))
        return found
