"""Reading templates/: the manifest, its templates checked by SHA-256, filters, staleness."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest
from click.testing import CliRunner

from pipelines.aws.errors import BadInput
from pipelines.aws.manifest import DEPLOYING_KINDS, ActionEntry, load_manifest, stale_hint
from pipelines.aws.status import _deploying_actions
from pipelines.cli import main
from pipelines.release.plan import StepKind
from tests.aws.workspace import Workspace


def test_the_manifest_of_the_example(workspace: Workspace) -> None:
    manifest = load_manifest(workspace.templates)
    assert manifest.pipeline == "shop-release"
    assert manifest.artifact_bucket == "shop-artifacts-111111111111-eu-west-1"
    assert manifest.image_uri("sha256:" + "0" * 64).startswith(
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@sha256:"
    )
    assert [e.name for e in manifest.service_stacks("prod")] == ["shop-prod-web"]
    assert manifest.environment_home("prod") == ("333333333333", "eu-west-1")
    assert manifest.select(("prod",), ("shop-source",)) == [
        "shop-source",
        "shop-prod-deploy",
        "shop-prod-web",
        "shop-prod-runner",
    ]
    with pytest.raises(BadInput, match=r"no environment 'prd'.*did you mean 'prod'"):
        manifest.select(("prd",))
    with pytest.raises(BadInput, match=r"no stack 'shop-prod-wbe'.*did you mean 'shop-prod-web'"):
        manifest.select((), ("shop-prod-wbe",))


def test_a_template_edited_after_synth_is_refused(workspace: Workspace) -> None:
    manifest = load_manifest(workspace.templates)
    entry = manifest.stack("shop-dev-web")
    path = workspace.templates / entry.file
    path.write_text(path.read_text().replace('"Type"', '"Type" ', 1))
    with pytest.raises(BadInput, match=r"edited after synth\. Run `pipelines synth`"):
        manifest.body(entry)


def test_missing_or_foreign_manifests(tmp_path) -> None:
    with pytest.raises(BadInput, match=r"manifest\.json not found: run `pipelines synth` first"):
        load_manifest(tmp_path / "nowhere")
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1}))
    with pytest.raises(BadInput, match="not a manifest written by `pipelines synth`"):
        load_manifest(tmp_path)
    result = CliRunner().invoke(main, ["diff", "--templates", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "run `pipelines synth` first" in result.output


def test_a_hint_when_environments_changed_after_synth(workspace: Workspace) -> None:
    assert stale_hint(workspace.templates, workspace.environments) is None
    written = (workspace.templates / "manifest.json").stat().st_mtime
    os.utime(workspace.environments / "prod.yaml", (written + 60, written + 60))
    hint = stale_hint(workspace.templates, workspace.environments)
    assert hint is not None and "prod.yaml" in hint and "run `pipelines synth` first" in hint


def test_the_manifest_names_each_stage_s_actions_and_the_services_they_deploy(
    workspace: Workspace,
) -> None:
    manifest = load_manifest(workspace.templates)
    assert manifest.stages["prod"] == ("prod",)
    assert [(a.name, a.kind, a.service) for a in manifest.actions["prod"]] == [
        ("plan.plan", "run", None),
        ("Plan-web", "plan", "web"),
        ("Approve", "approve", None),
        ("migrate.migrate", "run", None),
        ("Apply-web", "apply", "web"),
        ("Mark-deployed", "mark", None),
    ]
    assert manifest.service_actions(("dev",), "web", DEPLOYING_KINDS) == {"Deploy-web"}
    assert manifest.service_actions(("staging",), "web", DEPLOYING_KINDS) == {"Apply-web"}
    assert manifest.service_actions(("staging",), "api", DEPLOYING_KINDS) == set()


def test_the_deploying_kinds_are_kinds_of_the_release_plan() -> None:
    assert {StepKind.DEPLOY.value, StepKind.APPLY.value} == DEPLOYING_KINDS


def test_status_finds_a_deploying_action_by_the_plan_or_for_an_older_manifest_by_name(
    workspace: Workspace,
) -> None:
    manifest = load_manifest(workspace.templates)
    renamed = {"dev": (ActionEntry("Roll-out-web", "deploy", "web"), ActionEntry("Mark", "mark"))}
    assert _deploying_actions(replace(manifest, actions=renamed), ("dev",), "web") == {
        "Roll-out-web"
    }
    older = replace(manifest, stages={}, actions={})
    assert _deploying_actions(older, ("dev",), "web") == {"Deploy-web", "Apply-web"}
