"""The alarms a bake watches become CodePipeline condition rules, one per alarm."""

from __future__ import annotations

from pipelines import naming
from pipelines.config.models import EnvironmentFile, PipelineFile
from pipelines.config.rules.documents import problem_at
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem


def alarms_make_distinct_bake_rules(
    pipeline: PipelineFile, name: str, env: EnvironmentFile, doc: Document
) -> list[Problem]:
    """Each alarm gives its own bake rule: CodePipeline reads `#{` in a rule's configuration as
    a variable, and rule names allow only A-Z, a-z, 0-9 and .@_-, so two alarm names can become
    one rule name."""
    problems: list[Problem] = []
    rules: dict[str, str] = {}
    for i, alarm in enumerate(env.alarms):
        if "#{" in alarm:  # CodePipeline would read it as a variable in the bake rule
            problems.append(
                problem_at(
                    doc, ("alarms", i), f"{alarm!r}: '#{{' would be read as a pipeline variable"
                )
            )
        elif (rule := naming.bake_rule(alarm)) in rules and env.bake_minutes is not None:
            problems.append(
                problem_at(
                    doc,
                    ("alarms", i),
                    f"{alarm!r} and {rules[rule]!r} would both be the bake rule {rule!r} "
                    "(CodePipeline allows A-Z, a-z, 0-9 and .@_- in rule names); rename one alarm",
                )
            )
        rules.setdefault(naming.bake_rule(alarm), alarm)
    return problems
