"""Runner steps in the release plan: where each phase runs, in which order, at any size."""

from __future__ import annotations

from pathlib import Path

from pipelines.config import load_project
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
        ("smoke.check", 4),
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
        ("smoke.check", 8),
    ]
    assert _orders(stages["qa"]) == [("Deploy-api", 1)]


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
