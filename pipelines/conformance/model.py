"""What the conformance rules read and what they report: plain data, no troposphere, no boto3."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from pipelines.aws_facts import partition_of


class StackTemplate(NamedTuple):
    """One rendered template and where it is deployed."""

    name: str
    kind: str  # source | artifacts | deploy | service | pipeline | runner | environment-runner
    account: str
    region: str
    body: dict[str, Any]
    toolchain_account: str

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def resources(self, type_: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(logical id, resource) of every resource, or of one type, in logical-id order."""
        for logical_id, resource in sorted(self.body.get("Resources", {}).items()):
            if type_ is None or resource.get("Type") == type_:
                yield logical_id, resource


class Finding(NamedTuple):
    """One AWS rule a template breaks: which rule, where, what to do, and AWS's own words."""

    rule: str
    stack: str
    where: str  # the resource's logical id and property path
    message: str
    doc: str  # the AWS documentation that states the rule

    def __str__(self) -> str:
        return f"{self.stack}: {self.where}: {self.message} [{self.rule}; {self.doc}]"


Check = Callable[[Sequence[StackTemplate]], Iterable[Finding]]


class Rule(NamedTuple):
    """An AWS rule the templates must keep and the function that looks for breaches of it."""

    id: str
    summary: str
    doc: str
    check: Check

    def findings(self, templates: Sequence[StackTemplate]) -> list[Finding]:
        return list(self.check(templates))

    def finding(self, stack: StackTemplate, where: str, message: str) -> Finding:
        return Finding(self.id, stack.name, where, message, self.doc)
