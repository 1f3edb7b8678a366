"""Each cross-file rule of config/rules/ on its own: called directly on the example, on a small
edit of it or on one of the invalid fixtures, never through the rest of the loader's checks.

test_loader_errors.py checks the same rules through `load_project`, with exact files and lines.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipelines.config.loader import Files, build_project, load_project, read_files
from pipelines.config.rules import (
    ENVIRONMENT_RULES,
    LATER_PROJECT_RULES,
    PIPELINE_RULES,
    PROJECT_RULES,
    Documents,
    key_of,
)
from pipelines.config.rules.bake import alarms_make_distinct_bake_rules
from pipelines.config.rules.hooks import hooks_work
from pipelines.config.rules.image_tags import (
    deployed_tags_distinct,
    release_tag_not_deployed_prefix,
)
from pipelines.config.rules.images import (
    one_image_form,
    repositories_distinct,
    services_name_known_images,
    steps_name_their_image,
)
from pipelines.config.rules.listeners import listener_fits_environment, listener_priorities_distinct
from pipelines.config.rules.name_clashes import names_distinct
from pipelines.config.rules.name_lengths import resource_names_fit, runner_role_names_fit
from pipelines.config.rules.partitions import (
    push_principals_in_toolchain_partition,
    region_in_toolchain_partition,
)
from pipelines.config.rules.prefixes import service_names_outside_denied_prefixes
from pipelines.config.rules.rollout import rollout_conflicts, rollout_settings_work
from pipelines.config.rules.services import services_known_with_local_secrets
from pipelines.config.rules.steps import (
    runner_definitions_work,
    runners_and_steps_work,
    steps_work,
)
from pipelines.config.rules.strategies import (
    approvals_and_windows_work,
    configured_minutes,
    cron_problem_of,
    linear_bakes,
    strategies_work,
    timezone_problem_of,
)
from pipelines.errors import ConfigError, Problem
from pipelines.synth import synthesize
from tests.config.editing import Edits, edited_example
from tests.support import EXAMPLE, FIXTURES

Rule = Callable[..., list[Problem]]
ALL_RULES: tuple[Rule, ...] = (
    *ENVIRONMENT_RULES,
    *PIPELINE_RULES,
    *PROJECT_RULES,
    *LATER_PROJECT_RULES,
)
TWO_IMAGES = "valid/two-images"
EXAMPLE_IMAGE = "image:\n  repository: shop-web\n  release_tag: release\n  keep_images: 50\n"
# The example's one image written under `images`, as `web`.
AS_IMAGES = (
    "images:\n  web:\n    repository: shop-web\n    release_tag: release\n    keep_images: 50\n"
)
PROD_SECRET = "arn:aws:secretsmanager:eu-west-1:333333333333:secret:shop/db"


def run(rule: Rule, files: Files) -> list[Problem]:
    """The rule's problems, given the inputs of the group it belongs to."""
    if rule in ENVIRONMENT_RULES:
        return [
            problem
            for name in files.pipeline.promotion
            for problem in rule(
                files.pipeline,
                name,
                files.environments[name],
                files.documents.environments[name],
            )
        ]
    if rule in PIPELINE_RULES:
        return rule(files.pipeline, files.documents.pipeline)
    return rule(build_project(files), files.documents)


@dataclass(frozen=True)
class Case:
    """A rule, its input (an edit of the example, or an invalid fixture) and what it reports:
    a fragment of its one message, or None for no problem."""

    rule: Rule
    expected: str | None
    edits: Edits = field(default_factory=dict)
    fixture: str | None = None

    @property
    def id(self) -> str:
        source = self.fixture or ",".join(self.edits) or "example"
        return f"{self.rule.__name__}-{source}-{'ok' if self.expected is None else 'problem'}"


CASES = [
    # partitions
    Case(region_in_toolchain_partition, None),
    Case(
        region_in_toolchain_partition,
        "one pipeline cannot deploy across partitions",
        fixture="cross-partition",
    ),
    Case(
        push_principals_in_toolchain_partition,
        None,
        {
            "pipeline.yaml": [
                (
                    "keep_images: 50",
                    "keep_images: 50\n  push_principals: [arn:aws:iam::111111111111:role/ci]",
                )
            ]
        },
    ),
    Case(
        push_principals_in_toolchain_partition,
        "is not in the toolchain's partition (aws)",
        {
            "pipeline.yaml": [
                (
                    "keep_images: 50",
                    "keep_images: 50\n  push_principals: [arn:aws-cn:iam::111111111111:role/ci]",
                )
            ]
        },
    ),
    # services
    Case(services_known_with_local_secrets, None),
    Case(
        services_known_with_local_secrets,
        "must be in this environment's account 333333333333 and region eu-west-1",
        {"prod.yaml": [(PROD_SECRET, PROD_SECRET.replace("333333333333", "444444444444"))]},
    ),
    Case(
        services_known_with_local_secrets,
        "must be in this environment's account 333333333333 and region eu-west-1",
        {"prod.yaml": [(PROD_SECRET, PROD_SECRET.replace("eu-west-1", "us-east-1"))]},
    ),
    Case(services_known_with_local_secrets, "'wbe'", {"dev.yaml": [("  web:\n", "  wbe:\n")]}),
    # bake
    Case(alarms_make_distinct_bake_rules, None),
    Case(
        alarms_make_distinct_bake_rules,
        "'#{' would be read as a pipeline variable",
        {"prod.yaml": [("[shop-prod-5xx]", "['shop-#{x}']")]},
    ),
    Case(
        alarms_make_distinct_bake_rules,
        "would both be the bake rule 'Bake-shop-5xx'",
        {"prod.yaml": [("[shop-prod-5xx]", "[shop/5xx, shop:5xx]")]},
    ),
    Case(  # without a bake, the alarms make no rules
        alarms_make_distinct_bake_rules,
        None,
        {"prod.yaml": [("[shop-prod-5xx]", "[shop/5xx, shop:5xx]"), ("bake_minutes: 10", "")]},
    ),
    # listeners
    Case(listener_fits_environment, None),
    Case(
        listener_fits_environment,
        "the listener must be in this environment's account 333333333333",
        fixture="listener-other-account",
    ),
    Case(listener_fits_environment, "would share host", fixture="shared-host"),
    Case(  # the last priority a listener takes
        listener_fits_environment, None, {"prod.yaml": [("priority: 10", "priority: 50000")]}
    ),
    Case(listener_priorities_distinct, None),
    Case(
        listener_priorities_distinct,
        "choose priorities that do not overlap",
        fixture="listener-priorities-overlap",
    ),
    # name lengths
    Case(resource_names_fit, None),
    Case(
        resource_names_fit,
        "shorten the app, environment ('production-eu') or service",
        fixture="names-too-long",
    ),
    Case(runner_role_names_fit, None),
    Case(runner_role_names_fit, "shorten the runner's name", fixture="runner-names-too-long"),
    # images
    Case(one_image_form, None, fixture=TWO_IMAGES),
    Case(one_image_form, "not both", fixture="images-and-image"),
    Case(one_image_form, "missing required key", fixture="images-missing"),
    Case(services_name_known_images, None, fixture=TWO_IMAGES),
    Case(
        services_name_known_images,
        "name the one this service runs",
        fixture="service-image-missing",
    ),
    Case(services_name_known_images, "unknown image 'wroker'", fixture="service-image-unknown"),
    Case(services_name_known_images, "only with `images`", fixture="service-image-with-image"),
    Case(services_name_known_images, "no service runs image 'worker'", fixture="image-unused"),
    Case(  # one image under `images`: its services need not name it
        services_name_known_images,
        None,
        {"pipeline.yaml": [(EXAMPLE_IMAGE, AS_IMAGES)]},
    ),
    Case(repositories_distinct, None, fixture=TWO_IMAGES),
    Case(
        repositories_distinct, "both name repository 'shop-web'", fixture="images-same-repository"
    ),
    Case(steps_name_their_image, None, fixture=TWO_IMAGES),
    Case(
        steps_name_their_image,
        'write `{run: "migrate.migrate", image: NAME}`',
        fixture="step-image-plain",
    ),
    Case(
        steps_name_their_image,
        "name the image whose pipeline runs this step",
        fixture="step-image-missing",
    ),
    Case(steps_name_their_image, "unknown image 'wbe'", fixture="step-image-unknown"),
    Case(steps_name_their_image, "only with `images`", fixture="step-image-with-image"),
    Case(  # one image under `images`: its steps need not name it
        steps_name_their_image,
        None,
        {"pipeline.yaml": [(EXAMPLE_IMAGE, AS_IMAGES)]},
    ),
    Case(  # each image of `images` is checked too
        release_tag_not_deployed_prefix,
        "starts with 'deployed-'",
        {
            "pipeline.yaml": [
                (
                    EXAMPLE_IMAGE,
                    "images:\n  web:\n    repository: shop-web\n    release_tag: deployed-x\n",
                )
            ]
        },
    ),
    # image tags
    Case(release_tag_not_deployed_prefix, None),
    Case(
        release_tag_not_deployed_prefix,
        "starts with 'deployed-'",
        {"pipeline.yaml": [("release_tag: release", "release_tag: deployed-x")]},
    ),
    Case(deployed_tags_distinct, None),
    Case(deployed_tags_distinct, "would share the image tag", fixture="environment-tags-clash"),
    # rollout
    Case(rollout_settings_work, None),
    Case(
        rollout_settings_work,
        "name at least one alarm",
        {"prod.yaml": [("[shop-prod-5xx]", "[]")]},
    ),
    Case(
        rollout_settings_work,
        "bake time watches at most 5 alarms",
        {"prod.yaml": [("[shop-prod-5xx]", "[a1, a2, a3, a4, a5, a6]")]},
    ),
    Case(
        rollout_settings_work,
        "must be shorter than health_check_interval",
        fixture="rollout-timeout-not-below-interval",
    ),
    # strategies
    Case(strategies_work, None),
    Case(
        strategies_work,
        "the environment dev has no `load_balancer`",
        fixture="canary-without-load-balancer",
    ),
    Case(
        strategies_work,
        "the service web has no `port` in pipeline.yaml",
        {
            "pipeline.yaml": [
                ("    port: 8080\n", ""),
                ("    health_check: {path: /healthz}\n", ""),
            ],
        },
    ),
    Case(
        strategies_work,
        "web deploys with strategy rolling in staging",
        {
            "staging.yaml": [
                (
                    "    desired_count: 2\n",
                    "    rollout: {test_traffic_header: {name: X-Test, value: '1'}}\n",
                )
            ]
        },
    ),
    Case(
        strategies_work,
        "CloudFormation refuses more than 1980 (33 hours)",
        {
            "prod.yaml": [
                ("canary_bake_minutes: 15", "canary_bake_minutes: 1440"),
                ("bake_minutes: 5             #", "bake_minutes: 600 #"),
            ]
        },
    ),
    Case(approvals_and_windows_work, None),
    Case(
        approvals_and_windows_work,
        "dev has no manual approval",
        {
            "dev.yaml": [
                ("region: eu-west-1\n", "region: eu-west-1\napproval_timeout_minutes: 60\n")
            ]
        },
    ),
    Case(
        approvals_and_windows_work,
        "not an Area/City time zone",
        {
            "prod.yaml": [
                (
                    "requires_approval: true\n",
                    "requires_approval: true\n"
                    "deploy_window: {cron: 'cron(0 * 9-16 ? * MON-THU *)', timezone: CST}\n",
                )
            ]
        },
    ),
    Case(
        approvals_and_windows_work,
        "has 5 fields",
        {
            "prod.yaml": [
                (
                    "requires_approval: true\n",
                    "requires_approval: true\ndeploy_window: {cron: '0 9 * * 1'}\n",
                )
            ]
        },
    ),
    # runners and steps
    Case(runner_definitions_work, None),
    Case(
        runner_definitions_work,
        "needs `runner.image` in pipeline.yaml",
        fixture="builtin-without-runner-image",
    ),
    Case(steps_work, None),
    Case(
        steps_work,
        "refused by the allow-list",
        {"prod.yaml": [("    - migrate.migrate", "    - migrate.migrat")]},
    ),
    Case(steps_work, "runs on CodeBuild", fixture="runner-override-codebuild"),
    Case(steps_work, "so these settings would apply to nothing", fixture="runner-override-unused"),
    Case(
        steps_work,
        "has no approval to run these before",
        fixture="before-approval-without-approval",
    ),
    Case(steps_work, "is an earlier step's too", fixture="step-namespace-clash"),
    Case(steps_work, "no earlier step has the namespace", fixture="step-unknown-variable"),
    Case(steps_work, "not #{...} variables", fixture="codebuild-step-variable"),
    Case(steps_work, "let other accounts pull only", fixture="image-builder-in-another-account"),
    Case(runners_and_steps_work, None),
    Case(
        runners_and_steps_work,
        "needs `runner.image` in pipeline.yaml",
        fixture="builtin-without-runner-image",
    ),
    # lifecycle hooks
    Case(hooks_work, None),
    Case(hooks_work, "shifts traffic between two revisions", fixture="hooks-rolling"),
    Case(hooks_work, "no test_traffic_header in prod", fixture="hooks-test-stage-without-header"),
    Case(hooks_work, "refused by the allow-list", fixture="hooks-step-refused"),
    Case(hooks_work, "#{...} variables have nothing", fixture="hooks-step-variable"),
    Case(hooks_work, "smoke runs on CodeBuild", fixture="hooks-codebuild-runner"),
    Case(
        hooks_work,
        "runs the release image",
        {
            "prod.yaml": [
                (
                    "      canary_bake_minutes: 15\n",
                    "      canary_bake_minutes: 15\n"
                    "      hooks: {post_scale_up: [migrate.migrate]}\n",
                )
            ]
        },
    ),
    # name clashes and prefixes
    Case(names_distinct, None),
    Case(names_distinct, "would both be named", fixture="service-named-like-a-stack"),
    Case(service_names_outside_denied_prefixes, None),
    Case(
        service_names_outside_denied_prefixes,
        "reserved for the deploy runner's resources",
        fixture="service-named-runner",
    ),
    Case(
        service_names_outside_denied_prefixes,
        "which shares account",
        fixture="service-named-like-an-environment",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule(case: Case, tmp_path: Path) -> None:
    directory = (
        FIXTURES / (case.fixture if "/" in case.fixture else f"invalid/{case.fixture}")
        if case.fixture
        else edited_example(tmp_path / "environments", case.edits)
    )
    problems = run(case.rule, read_files(directory))

    if case.expected is None:
        assert problems == []
    else:
        assert [p.message for p in problems if case.expected in p.message], problems
        assert len(problems) == 1, problems


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.__name__)
def test_every_rule_passes_the_example_and_has_a_table(rule: Rule) -> None:
    assert run(rule, read_files(EXAMPLE)) == []
    assert any(case.rule is rule and case.expected for case in CASES), "add a failing case"
    assert rule.__doc__, "say what the rule checks and why AWS needs it"


def test_later_rules_run_only_when_the_first_project_rules_pass() -> None:
    """A runner problem hides name clashes: names come from runners that must work first."""
    files = read_files(FIXTURES / "invalid" / "builtin-without-runner-image")
    with pytest.raises(ConfigError) as raised:
        load_project(FIXTURES / "invalid" / "builtin-without-runner-image")
    assert [p.message for p in raised.value.problems] == [
        p.message for rule in PROJECT_RULES for p in run(rule, files)
    ]


@pytest.mark.parametrize(
    ("timeout", "interval", "maximum", "minimum", "expected"),
    [
        (5, 30, 200, 100, []),
        (30, 30, 200, 100, ["health_check_timeout (30 s) must be shorter"]),
        (5, 30, 100, 100, ["maximum_percent (100) must be above minimum_healthy_percent (100)"]),
    ],
)
def test_rollout_conflicts(
    timeout: int, interval: int, maximum: int, minimum: int, expected: list[str]
) -> None:
    project = load_project(EXAMPLE)
    env = project.environments[0]
    rollout = dataclasses.replace(
        project.rollout(env, "web"),
        health_check_timeout=timeout,
        health_check_interval=interval,
        maximum_percent=maximum,
        minimum_healthy_percent=minimum,
    )
    conflicts = rollout_conflicts(rollout)
    assert len(conflicts) == len(expected)
    assert all(c.startswith(e) for c, e in zip(conflicts, expected, strict=True))


@pytest.mark.parametrize(
    ("loc", "key"),
    [
        ((), ""),
        (("app",), "app"),
        (("services", "web", "secrets", "DB"), "services.web.secrets.DB"),
        (("promotion", 2), "promotion[2]"),
        (("image", "push_principals", 0), "image.push_principals[0]"),
    ],
)
def test_key_of(loc: tuple[str | int, ...], key: str) -> None:
    assert key_of(loc) == key


def test_documents_hold_every_environment_in_promotion_order() -> None:
    documents = read_files(EXAMPLE).documents
    assert isinstance(documents, Documents)
    assert list(documents.environments) == ["dev", "staging", "prod"]
    assert documents.pipeline.file.name == "pipeline.yaml"


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("0 * 9-16 ? * MON-THU *", None),
        ("0 0 9-17 ? * MON-FRI", None),
        ("0 0/15 22-23 L * ? 2026", None),
        ("0 0 9 * * MON", "write ? in day-of-month or day-of-week"),
        ("0 0 9 ? * FUNDAY", "is not a day-of-week field"),
        ("0 0 9 ? JANUARY MON", "is not a month field"),
        ("0 0 9 ? *", "has 5 fields"),
    ],
)
def test_cron_expressions_of_a_deployment_window(cron: str, problem: str | None) -> None:
    found = cron_problem_of(cron)
    assert found is None if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("zone", "accepted"),
    [
        ("Europe/Berlin", True),
        ("America/Argentina/Buenos_Aires", True),
        ("UTC", True),
        ("UTC+05:30", True),
        ("UTC-03:00", True),
        ("UTC+15:00", False),
        ("Europe/Atlantis", False),
        ("CST", False),
        ("../etc/passwd", False),
    ],
)
def test_time_zones_of_a_deployment_window(zone: str, accepted: bool) -> None:
    assert (timezone_problem_of(zone) is None) is accepted


@pytest.mark.parametrize(
    ("step", "bakes"), [(10.0, 9), (11.0, 9), (50.0, 1), (100.0, 0), (12.5, 7), (3.0, 33)]
)
def test_linear_bakes_count_as_cloudformation_counts_them(step: float, bakes: int) -> None:
    # the AWS::ECS::Service LinearConfiguration rule: 100 / step - 1 when it divides, else floor
    assert linear_bakes(step) == bakes


def test_configured_minutes_of_each_strategy(tmp_path: Path) -> None:
    project = load_project(edited_example(tmp_path / "environments"))
    [prod] = [e for e in project.environments if e.name == "prod"]
    canary = project.rollout(prod, "web")
    assert configured_minutes(canary) == 5 + 15
    linear = dataclasses.replace(
        canary, strategy="linear", linear_step_percent=20.0, linear_step_bake_minutes=3
    )
    assert configured_minutes(linear) == 5 + 4 * 3
    assert configured_minutes(dataclasses.replace(canary, strategy="blue_green")) == 0


def test_hooks_refuse_a_hook_function_role_name_over_64_characters(tmp_path: Path) -> None:
    """`<app>-<env>-runner-hook-fn` with a 24-character app and a 32-character environment is
    72 characters; other rules refuse most such names first, this one says which name."""
    import shutil

    directory = tmp_path / "environments"
    shutil.copytree(FIXTURES / "valid" / "hooks", directory)
    env = "p" * 32
    (directory / "prod.yaml").rename(directory / f"{env}.yaml")
    pipeline = directory / "pipeline.yaml"
    text = pipeline.read_text(encoding="utf-8")
    text = text.replace("app: shop", "app: " + "s" * 24).replace(", prod]", f", {env}]")
    pipeline.write_text(text, encoding="utf-8")
    problems = hooks_work(build_project(read_files(directory)), read_files(directory).documents)
    assert [p.message for p in problems] == [
        f"the hook function's role in {env} would be named '{'s' * 24}-{env}-runner-hook-fn', "
        "72 characters, over AWS's 64; shorten the app's or the environment's name"
    ]


def test_a_runner_only_hooks_use_has_its_role_names_checked(tmp_path: Path) -> None:
    """The smoke runner runs only as a hook in staging and prod: its task role there still
    has to fit IAM's 64 characters."""
    import shutil

    directory = tmp_path / "environments"
    shutil.copytree(FIXTURES / "valid" / "hooks", directory)
    runner = "s" * 24
    for name in ("pipeline.yaml", "prod.yaml"):
        file = directory / name
        text = file.read_text(encoding="utf-8").replace("smoke", runner)
        file.write_text(text.replace("app: shop", "app: " + "a" * 24), encoding="utf-8")
    files = read_files(directory)
    problems = runner_role_names_fit(build_project(files), files.documents)
    assert [p.key for p in problems] == [f"runners.{runner}"]
    assert "-staging-runner-" in problems[0].message and "is 69 characters" in problems[0].message


def test_with_several_images_a_step_reads_only_its_own_pipelines_namespaces(
    tmp_path: Path,
) -> None:
    """Both images migrate in staging, each as `staging-migrate-migrate` of its own pipeline (no
    clash); worker's pipeline never runs web's prod smoke test, so cannot read its namespace."""
    environments = tmp_path / "two-images"
    source = FIXTURES / "valid" / "two-images"
    environments.mkdir()
    for path in source.iterdir():
        (environments / path.name).write_text(path.read_text())
    assert run(steps_work, read_files(environments)) == []
    prod = environments / "prod.yaml"
    prod.write_text(
        prod.read_text().replace(
            "{run: smoke.check --url https://shop.example.com/healthz, image: worker}",
            '{run: "smoke.check --url https://shop.example.com/#{prod-smoke-check.summary}", '
            "image: worker}",
        )
    )
    [problem] = run(steps_work, read_files(environments))
    assert problem.key == "steps.after_deploy[1]"
    assert "no earlier step has the namespace 'prod-smoke-check'" in problem.message


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (("  kaniko: image-builder", "  kaniko: {builtin: image-builder, on: codebuild}"),
         "CodeBuild runs in the toolchain account"),
        (('account: "333333333333"', 'account: "111111111111"'),
         "prod in the toolchain account"),
    ],
)  # fmt: skip
def test_the_image_builder_may_push_from_the_toolchain_account(
    tmp_path: Path, edit: tuple[str, str], why: str
) -> None:
    environments = tmp_path / "env"
    shutil.copytree(FIXTURES / "invalid" / "image-builder-in-another-account", environments)
    for name in ("pipeline.yaml", "prod.yaml"):
        file = environments / name
        file.write_text(file.read_text().replace(*edit))
    if "111111111111" in edit[1]:  # prod's resources name its account too
        prod = environments / "prod.yaml"
        prod.write_text(prod.read_text().replace("333333333333", "111111111111"))
    synthesis = synthesize(environments)  # the conformance rules run too
    assert "runners.json" in synthesis.files, why
