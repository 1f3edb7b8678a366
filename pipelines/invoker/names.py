"""The runner's protocol: names of files, variables and markers its jobs and invoker share.

The AWS resources it uses are named in pipelines.naming, like every other resource.
"""

from __future__ import annotations

# The one container of every runner task definition; the invoker overrides its command.
CONTAINER = "job"
# ECS `startedBy` on every task the invoker starts, so status and stop refuse other tasks.
STARTED_BY = "pipelines-runner"
# The allow-list document synth writes and the invoker reads (bundled next to the handler).
RUNNERS_FILE = "runners.json"
# Alternatives to the bundled file, for the Lambda: the document itself, or a path to it.
RUNNERS_VARIABLE = "PIPELINES_RUNNERS"
RUNNERS_FILE_VARIABLE = "PIPELINES_RUNNERS_FILE"

# An environment's name as the allow-list document and the invoker take it; the configuration
# refuses longer names (config.models.EnvironmentName), so the two cannot disagree.
ENVIRONMENT_NAME_PATTERN = r"[a-z][a-z0-9-]{0,31}"
MAX_ENVIRONMENT_NAME = 32

# Environment variables the invoker sets in a job's container.
ENVIRONMENT_VARIABLE = "PIPELINES_ENVIRONMENT"
ARTIFACTS_VARIABLE = "PIPELINES_ARTIFACTS"  # JSON {artifact name: "s3://bucket/key"}
RUNNER_VARIABLE = "PIPELINES_RUNNER"
SCRIPT_VARIABLE = "PIPELINES_SCRIPT"
# The admitted argv of a CodeBuild runner step (a JSON list), which its buildspec runs.
RUNNER_ARGV_VARIABLE = "PIPELINES_ARGV"
# Where a job may also append its outputs as NAME=VALUE lines (CodeBuild exported variables).
OUTPUT_FILE_VARIABLE = "PIPELINES_OUTPUT_FILE"

# A job prints `::pipelines-output:: NAME=VALUE` to hand NAME to CodePipeline as an output
# variable of its action (e.g. `summary` for the approval message, `planSha256` for the apply).
OUTPUT_MARKER = "::pipelines-output::"
# The longest `summary` variable the invoker hands CodePipeline: approvals show up to three of
# them in a message CodePipeline caps at 500 characters.
MAX_SUMMARY = 80


def log_stream_prefix(runner: str) -> str:
    """The awslogs-stream-prefix of a runner's task definition: its name."""
    return runner


def log_stream(runner: str, task_id: str) -> str:
    """The stream the awslogs driver writes: <prefix>/<container>/<task id>."""
    return f"{log_stream_prefix(runner)}/{CONTAINER}/{task_id}"


# The UserParameters entry of a step that a stage rollback does not run again (on_rollback:
# skip): {"pipeline": NAME, "execution": "#{codepipeline.PipelineExecutionId}"}.
SKIP_ON_ROLLBACK = "skipOnRollback"
