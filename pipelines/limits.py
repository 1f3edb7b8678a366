"""CloudFormation and CodePipeline limits, checked on the rendered output before any write."""

from __future__ import annotations

from typing import Any

from pipelines import naming, patterns
from pipelines.invoker import names

TEMPLATE_BYTES_S3 = 1_000_000
TEMPLATE_BYTES_INLINE = 51_200
RESOURCES_PER_STACK = 500
PARAMETERS_PER_STACK = 200
OUTPUTS_PER_STACK = 200
STAGES_PER_PIPELINE = 50
ACTIONS_PER_STAGE = 50
PARAMETER_OVERRIDES_CHARS = 1_000
APPROVAL_CUSTOM_DATA_CHARS = 500
CONFIGURATION_VALUE_CHARS = 1_000  # any action configuration value

# Action configuration values CodePipeline limits in length.
_NAMES = "shorten the app, environment or repository name"
_STEP = "shorten the step's arguments"
_CONFIGURATION_LIMITS = [
    ("ParameterOverrides", "parameter overrides", PARAMETER_OVERRIDES_CHARS, _NAMES),
    ("CustomData", "the approval message", APPROVAL_CUSTOM_DATA_CHARS, _NAMES),
    ("UserParameters", "the runner step's request", CONFIGURATION_VALUE_CHARS, _STEP),
    ("EnvironmentVariables", "the runner step's variables", CONFIGURATION_VALUE_CHARS, _STEP),
]

# What a variable can expand to at run time, for length checks of action configuration.
_VARIABLE_LENGTHS = {
    f"#{{{naming.SOURCE_NAMESPACE}.ImageDigest}}": len("sha256:") + 64,
    "#{codepipeline.PipelineExecutionId}": 36,
}
# The outputs of runner steps whose longest value is known (see runner/jobs.py and invoker.py);
# any other output counts as long as the reference to it.
_STEP_OUTPUT_LENGTHS = {
    "summary": names.MAX_SUMMARY,
    "planSha256": 64,
    "changeSet": 128,
    # arn:<partition>:cloudformation:<region>:<account>:changeSet/<name>/<uuid>
    "changeSetId": 256,
    "exitCode": 3,
    "task": 64,
}


def needs_upload(size: int) -> bool:
    """Templates over the inline limit must reach CloudFormation through S3."""
    return size > TEMPLATE_BYTES_INLINE


def limit_problems(stack: str, body: dict[str, Any], size: int) -> list[str]:
    problems = []
    if size > TEMPLATE_BYTES_S3:
        problems.append(
            f"{stack}: template is {size:,} bytes; CloudFormation allows {TEMPLATE_BYTES_S3:,}"
        )
    for section, limit in (
        ("Resources", RESOURCES_PER_STACK),
        ("Parameters", PARAMETERS_PER_STACK),
        ("Outputs", OUTPUTS_PER_STACK),
    ):
        count = len(body.get(section, {}))
        if count > limit:
            problems.append(f"{stack}: {count} {section.lower()}; a stack allows {limit}")
    for resource in body.get("Resources", {}).values():
        if resource.get("Type") == "AWS::CodePipeline::Pipeline":
            problems += _pipeline_problems(stack, resource["Properties"])
    return problems


def _pipeline_problems(stack: str, pipeline: dict[str, Any]) -> list[str]:
    problems = []
    stages = pipeline["Stages"]
    if len(stages) > STAGES_PER_PIPELINE:
        problems.append(
            f"{stack}: the pipeline has {len(stages)} stages; "
            f"CodePipeline allows {STAGES_PER_PIPELINE}"
        )
    for stage in stages:
        actions = stage["Actions"]
        if len(actions) > ACTIONS_PER_STAGE:
            problems.append(
                f"{stack}: stage {stage['Name']} has {len(actions)} actions; CodePipeline allows "
                f"{ACTIONS_PER_STAGE} (fewer services per environment, or split the app)"
            )
        for action in actions:
            config = action.get("Configuration", {})
            where = f"{stack}: stage {stage['Name']}, action {action['Name']}"
            for key, what, limit, hint in _CONFIGURATION_LIMITS:
                value = config.get(key)
                if isinstance(value, str) and _expanded(value) > limit:
                    problems.append(
                        f"{where}: {what} expands to {_expanded(value)} characters; "
                        f"CodePipeline allows {limit} ({hint})"
                    )
    return problems


def _expanded(text: str) -> int:
    length = len(text)
    for variable, size in _VARIABLE_LENGTHS.items():
        length += text.count(variable) * (size - len(variable))
        text = text.replace(variable, "")
    for match in patterns.VARIABLE.finditer(text):
        output_size = _STEP_OUTPUT_LENGTHS.get(match.group(2))
        if output_size is not None:
            length += output_size - len(match.group(0))
    return length
