"""Synthesized configurations as the conformance rules read them, and small template editors."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.conformance.model import StackTemplate
from pipelines.render import Synthesis
from pipelines.synth import synthesize


@functools.cache
def _synthesized(directory: Path) -> Synthesis:
    return synthesize(directory)


def stack_templates(directory: Path) -> list[StackTemplate]:
    """A fresh copy of the configuration's templates, free to edit."""
    synthesis = _synthesized(directory)
    return [
        StackTemplate(
            o.stack.name,
            o.stack.kind,
            o.stack.account,
            o.stack.region,
            json.loads(o.body),
            synthesis.project.toolchain.account,
        )
        for o in synthesis.outputs
    ]


def stack(templates: list[StackTemplate], name: str) -> StackTemplate:
    return next(t for t in templates if t.name == name)


def resource(templates: list[StackTemplate], stack_name: str, logical_id: str) -> dict[str, Any]:
    return stack(templates, stack_name).body["Resources"][logical_id]


def statements_of(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


def padded(document: dict[str, Any], characters: int) -> dict[str, Any]:
    """`document` with one more statement of about `characters` characters."""
    grown = copy.deepcopy(document)
    resources = [f"arn:aws:s3:::padding-{i:05d}/*" for i in range(characters // 30 + 1)]
    grown["Statement"].append(
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": resources}
    )
    return grown
