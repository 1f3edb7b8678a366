"""Runner steps in the release plan: where each phase runs, in which order, at any size."""

from __future__ import annotations

from pathlib import Path

from pipelines.config.loader import load_project
from pipelines.limits import ACTIONS_PER_STAGE
from pipelines.release.plan import StepKind, plan_release
from tests.support import FIXTURES

EVERY_STEP = FIXTURES / "valid" / "every-step"


def _orders(stage) -> list[tuple[str, int]]:
    return [(s.name, s.run_order) for s in stage.steps]


def test_each_phase_runs_in_list_order_around_the_deployment() -> None:
    stages = {s.name: s for s in plan_release(load_project(EVERY_STEP)).stages}

    # A direct deployment: steps before, all services, steps after; a list runs in its order.
    assert _orders(stages["dev"]) == [
        ("migrate.migrate", 1),
        ("migrate.migrate-2", 2),
        ("Deploy-api", 3),
        ("Mark-deployed", 4),
        ("smoke.check", 5),
    ]
    # With an approval: plans beside the change sets, the approval, the applies and migration,
    # the services, then the smoke test.
    assert _orders(stages["prod-eu"]) == [
        ("plan.plan", 1),
        ("Plan-api", 1),
        ("tfplan.plan", 2),
        ("Approve", 3),
        ("tfapply.apply", 4),
        ("apply.apply", 5),
        ("migrate.migrate", 6),
        ("Apply-api", 7),
        ("Mark-deployed", 8),
        ("smoke.check", 9),
    ]
    assert _orders(stages["qa"]) == [("Deploy-api", 1), ("Mark-deployed", 2)]


def test_steps_carry_their_namespace_and_where_they_run() -> None:
    stages = {s.name: s for s in plan_release(load_project(EVERY_STEP)).stages}
    runs = {s.name: s.run for s in stages["prod-eu"].steps if s.kind is StepKind.RUN}

    assert runs["plan.plan"].namespace == "prod-eu-plan-plan"
    assert runs["plan.plan"].on == "ecs" and not runs["plan.plan"].release_image
    assert runs["migrate.migrate"].release_image
    assert runs["migrate.migrate"].argv == ("./migrate", "--target", "42")
    assert runs["smoke.check"].on == "codebuild"
    assert runs["tfapply.apply"].args[4:6] == (
        "--plan-sha256",
        "#{prod-eu-tfplan-plan.planSha256}",
    )
    dev = [s.run for s in stages["dev"].steps if s.kind is StepKind.RUN]
    assert [r.namespace for r in dev] == [
        "dev-migrate-migrate",
        "dev-migrate-migrate-2",
        "dev-smoke-check",
    ]


def _with_services(source: Path, target: Path, count: int) -> Path:
    """every-step with `count` services, so each environment overflows one stage."""
    target.mkdir()
    for path in source.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.name == "pipeline.yaml":
            extra = "".join(f"  svc{i}:\n    cpu: 256\n    memory: 512\n" for i in range(count))
            text = text.replace("services:\n", "services:\n" + extra, 1)
        (target / path.name).write_text(text, encoding="utf-8")
    return target


def test_large_environments_spread_steps_over_their_own_stages(tmp_path: Path) -> None:
    project = load_project(_with_services(EVERY_STEP, tmp_path / "env", 60))
    stages = plan_release(project).stages
    names = [s.name for s in stages]

    assert names[names.index("dev-prepare") : names.index("dev-verify") + 1] == [
        "dev-prepare",
        "dev",
        "dev-2",
        "dev-verify",
    ]
    by_name = {s.name: s for s in stages}
    assert _orders(by_name["dev-prepare"]) == [("migrate.migrate", 1), ("migrate.migrate-2", 2)]
    assert _orders(by_name["dev-verify"]) == [("smoke.check", 1)]
    # The approval stage keeps the steps around the approval; the smoke test comes last.
    assert _orders(by_name["prod-eu"]) == [
        ("plan.plan", 1),
        ("tfplan.plan", 2),
        ("Approve", 3),
        ("tfapply.apply", 4),
        ("apply.apply", 5),
        ("migrate.migrate", 6),
    ]
    assert names.index("prod-eu-plan") < names.index("prod-eu") < names.index("prod-eu-apply")
    assert names.index("prod-eu-apply-2") < names.index("prod-eu-verify")
    # Only each environment's last stage is final (where bake and rollback attach).
    assert [s.name for s in stages if s.final and s.environment is not None] == [
        "dev-verify",
        "qa-2",
        "prod-eu-verify",
        "prod-us-apply-2",
    ]
    assert all(len(s.steps) <= ACTIONS_PER_STAGE for s in stages)


def test_the_release_marker_follows_the_last_deployments_in_their_stage(tmp_path: Path) -> None:
    by_name = {
        s.name: s
        for s in plan_release(load_project(_with_services(EVERY_STEP, tmp_path / "env", 60))).stages
    }
    # 61 services: 50 deployments in `<env>`/`<env>-apply`, the other 11 and then the marker in
    # the next stage; the steps after the deployment stay in `<env>-verify`.
    for stage, kind in (("dev-2", StepKind.DEPLOY), ("prod-eu-apply-2", StepKind.APPLY)):
        steps = by_name[stage].steps
        assert [s.kind for s in steps] == [kind] * 11 + [StepKind.MARK], stage
        assert steps[-1].run_order == 2 and {s.run_order for s in steps[:-1]} == {1}
    for stage in ("dev", "prod-eu-apply", "dev-verify", "prod-eu-verify"):
        assert StepKind.MARK not in {s.kind for s in by_name[stage].steps}, stage


def test_the_release_marker_gets_a_stage_of_its_own_only_after_a_full_one(
    tmp_path: Path,
) -> None:
    stages = plan_release(load_project(_with_services(EVERY_STEP, tmp_path / "env", 49))).stages
    by_name = {s.name: s for s in stages}
    # 50 services fill `qa`; its marker cannot join them, so it runs alone in `qa-2`.
    assert [s.kind for s in by_name["qa"].steps] == [StepKind.DEPLOY] * ACTIONS_PER_STAGE
    assert _orders(by_name["qa-2"]) == [("Mark-deployed", 1)]
    assert by_name["qa-2"].final
    assert all(len(s.steps) <= ACTIONS_PER_STAGE for s in stages)
    # One marker per environment, whatever the size.
    marks = [s.environment.name for s in stages for step in s.steps if step.kind is StepKind.MARK]
    assert marks == ["dev", "qa", "prod-eu", "prod-us"]


def test_an_environment_that_fits_one_stage_with_its_marker_keeps_one(tmp_path: Path) -> None:
    # qa deploys directly and has no steps: 48 + api = 49 deployments and the marker make 50.
    stages = plan_release(load_project(_with_services(EVERY_STEP, tmp_path / "env", 48))).stages
    qa = [s for s in stages if s.environment is not None and s.environment.name == "qa"]
    assert [s.name for s in qa] == ["qa"]
    assert len(qa[0].steps) == ACTIONS_PER_STAGE
    assert qa[0].steps[-1].kind is StepKind.MARK and qa[0].steps[-1].run_order == 2
