"""CodePipeline: a pipeline with Lambda invoke actions needs lambda:InvokeFunction and
lambda:ListFunctions on its service role."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines.conformance import graph
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import allowed, prepare, role_statements


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for stack in templates:
        for logical_id, pipeline in stack.resources("AWS::CodePipeline::Pipeline"):
            functions = sorted(
                {
                    str(a.configuration.get("FunctionName"))
                    for a in graph.pipeline_actions([stack])
                    if a.pipeline_id == logical_id and a.provider == "Lambda"
                }
            )
            if not functions:
                continue
            role = graph.pipeline_role(stack, pipeline)
            if role is None:
                continue
            policy = prepare(role_statements(role.resource), stack)
            if not allowed(policy, "lambda:ListFunctions", "*"):
                yield RULE.finding(
                    stack,
                    f"{role.logical_id}.Policies",
                    "the pipeline invokes Lambda functions but its role may not call "
                    "lambda:ListFunctions",
                )
            for function in functions:
                arn = f"arn:{stack.partition}:lambda:{stack.region}:{stack.account}:function:"
                if not allowed(policy, "lambda:InvokeFunction", arn + function):
                    yield RULE.finding(
                        stack,
                        f"{role.logical_id}.Policies",
                        f"the pipeline invokes {function} but its role may not invoke it",
                    )


RULE = Rule(
    "codepipeline-lambda-permissions",
    "a pipeline role may list and invoke the functions its Lambda actions call",
    "https://docs.aws.amazon.com/codepipeline/latest/userguide/security-iam.html"
    "#how-to-custom-role",
    check,
)
