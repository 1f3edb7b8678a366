"""environments/ -> Synthesis. The whole synth path, with no boto3 and no writes."""

from __future__ import annotations

from pathlib import Path

from pipelines.config.loader import load_project
from pipelines.release.plan import plan_release
from pipelines.render import Synthesis, invoker_code_key, render, runner_assets
from pipelines.stacks import build_stacks


def synthesize(environments: Path) -> Synthesis:
    project = load_project(environments)
    plan = plan_release(project)
    assets = runner_assets(project)
    return render(project, build_stacks(project, plan, invoker_code_key(assets)), assets, plan)
