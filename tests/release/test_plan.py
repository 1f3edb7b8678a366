from pipelines.config.loader import load_project
from pipelines.release.plan import StepKind, plan_release
from tests.support import EXAMPLE, FIXTURES


def test_example_stages_follow_promotion_with_approvals_before_later_environments() -> None:
    plan = plan_release(load_project(EXAMPLE))
    assert [s.name for s in plan.stages] == ["Source", "dev", "staging", "prod"]
    dev, staging, prod = plan.stages[1:]
    assert [(s.kind, s.run_order) for s in dev.steps] == [(StepKind.DEPLOY, 1), (StepKind.MARK, 2)]
    # staging and prod migrate their database after the approval, before the service changes;
    # prod's approval also waits for a plan of what the release changes.
    assert [(s.kind, s.name, s.run_order) for s in staging.steps] == [
        (StepKind.PLAN, "Plan-web", 1),
        (StepKind.APPROVE, "Approve", 2),
        (StepKind.RUN, "migrate.migrate", 3),
        (StepKind.APPLY, "Apply-web", 4),
        (StepKind.MARK, "Mark-deployed", 5),
    ]
    assert [(s.kind, s.name, s.run_order) for s in prod.steps] == [
        (StepKind.RUN, "plan.plan", 1),
        (StepKind.PLAN, "Plan-web", 1),
        (StepKind.APPROVE, "Approve", 2),
        (StepKind.RUN, "migrate.migrate", 3),
        (StepKind.APPLY, "Apply-web", 4),
        (StepKind.MARK, "Mark-deployed", 5),
    ]


def test_requires_approval_false_in_a_later_environment_deploys_directly() -> None:
    plan = plan_release(load_project(FIXTURES / "valid" / "multi-account"))
    kinds = {s.name: [step.kind for step in s.steps] for s in plan.stages}
    assert kinds["qa"] == [StepKind.DEPLOY, StepKind.MARK]
    assert StepKind.APPROVE in kinds["prod-eu"]


def test_services_of_one_environment_share_run_orders() -> None:
    plan = plan_release(load_project(FIXTURES / "valid" / "no-load-balancer"))
    prod = plan.stages[-1]
    plans = [s for s in prod.steps if s.kind is StepKind.PLAN]
    applies = [s for s in prod.steps if s.kind is StepKind.APPLY]
    assert {s.service for s in plans} == {"worker", "scheduler"}
    assert {s.run_order for s in plans} == {1}
    assert {s.run_order for s in applies} == {3}
    assert {s.stack for s in applies} == {"jobs-prod-worker", "jobs-prod-scheduler"}
