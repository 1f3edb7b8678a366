"""Loading a valid configuration: what is read, what is defaulted, how variables merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config.loader import load_project
from pipelines.config.models import Environment, Project
from pipelines.errors import ConfigError
from tests.config.editing import edited_example
from tests.support import EXAMPLE

APPROVAL = "requires_approval: true\n"


def env(project: Project, name: str) -> Environment:
    return next(e for e in project.environments if e.name == name)


def test_example_loads_as_written() -> None:
    project = load_project(EXAMPLE)

    assert project.app == "shop"
    assert (project.toolchain.account, project.toolchain.region) == ("111111111111", "eu-west-1")
    assert project.image.repository == "shop-web"
    assert [e.name for e in project.environments] == ["dev", "staging", "prod"]
    assert [e.account for e in project.environments] == [
        "222222222222",
        "222222222222",
        "333333333333",
    ]
    web = project.services["web"]
    assert (web.port, web.cpu, web.memory) == (8080, 256, 512)
    assert web.health_check is not None and web.health_check.path == "/healthz"
    assert web.command == ["gunicorn", "app:app"]
    assert project.notifications.approvals == ["release-team@example.com"]
    prod = env(project, "prod")
    assert prod.load_balancer is not None
    assert (prod.load_balancer.host, prod.load_balancer.priority) == ("shop.example.com", 10)
    assert prod.alarms == ("shop-prod-5xx",)
    assert prod.services["web"].secrets == {
        "DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:333333333333:secret:shop/db"
    }
    assert project.accounts == ["222222222222", "333333333333"]


def test_optional_environment_keys_default() -> None:
    project = load_project(EXAMPLE)
    dev = env(project, "dev")
    assert dev.network.public_ip is False
    assert dev.cluster is None
    assert dev.load_balancer is None
    assert dev.alarms == ()


def test_requires_approval_defaults_to_false_first_then_true(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {"staging.yaml": [(APPROVAL, "")], "prod.yaml": [(APPROVAL, "")]},
    )
    for name in ("dev.yaml", "staging.yaml", "prod.yaml"):
        assert "requires_approval" not in (directory / name).read_text()

    project = load_project(directory)

    assert [(e.name, e.requires_approval) for e in project.environments] == [
        ("dev", False),
        ("staging", True),
        ("prod", True),
    ]


def test_requires_approval_as_written_overrides_the_default(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {
            "dev.yaml": [("region: eu-west-1\n", "region: eu-west-1\n" + APPROVAL)],
            # Without an approval, prod's plan before it has nothing to run before.
            "prod.yaml": [
                (APPROVAL, "requires_approval: false\n"),
                ("  before_approval:\n", "  before_deploy:\n"),
                ("  before_deploy:\n    - migrate.migrate\n", "    - migrate.migrate\n"),
            ],
        },
    )

    project = load_project(directory)

    assert [(e.name, e.requires_approval) for e in project.environments] == [
        ("dev", True),
        ("staging", True),
        ("prod", False),
    ]


def test_image_defaults(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {"pipeline.yaml": [("  release_tag: release\n", ""), ("  keep_images: 50\n", "")]},
    )

    image = load_project(directory).image

    assert (image.release_tag, image.keep_images, image.push_principals) == ("release", 50, [])


def test_image_values_as_written(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {
            "pipeline.yaml": [
                ("release_tag: release", "release_tag: ship-it"),
                ("keep_images: 50", "keep_images: 7"),
            ]
        },
    )

    image = load_project(directory).image

    assert (image.release_tag, image.keep_images) == ("ship-it", 7)


def test_desired_count_defaults_to_one(tmp_path: Path) -> None:
    # staging's only service setting is desired_count: 2; dev sets 1 explicitly, so drop both.
    directory = edited_example(
        tmp_path / "env",
        {
            "staging.yaml": [("services:\n  web:\n    desired_count: 2\n", "")],
            "dev.yaml": [("    desired_count: 1\n", "")],
        },
    )
    project = load_project(directory)

    staging, dev, prod = env(project, "staging"), env(project, "dev"), env(project, "prod")
    assert staging.services == {}
    assert project.settings(staging, "web").desired_count == 1
    assert project.settings(dev, "web").desired_count == 1
    assert project.settings(dev, "web").environment == {"LOG_LEVEL": "debug"}
    assert project.settings(prod, "web").desired_count == 3


def test_environment_variables_merge_with_the_environment_winning(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {
            "pipeline.yaml": [
                ("environment: {LOG_LEVEL: info}", "environment: {LOG_LEVEL: info, TZ: UTC}")
            ],
            "prod.yaml": [
                ("environment: {LOG_LEVEL: warn}", "environment: {LOG_LEVEL: warn, TZ: CET}")
            ],
        },
    )
    project = load_project(directory)

    assert project.variables(env(project, "dev"), "web") == {"LOG_LEVEL": "debug", "TZ": "UTC"}
    assert project.variables(env(project, "staging"), "web") == {"LOG_LEVEL": "info", "TZ": "UTC"}
    assert project.variables(env(project, "prod"), "web") == {"LOG_LEVEL": "warn", "TZ": "CET"}
    # the service's own settings are not changed by the merge
    assert project.services["web"].environment == {"LOG_LEVEL": "info", "TZ": "UTC"}


def test_number_values_become_strings(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {
            "pipeline.yaml": [
                (
                    "environment: {LOG_LEVEL: info}",
                    "environment: {LOG_LEVEL: info, WORKERS: 4, RATIO: 0.5, ZIP: '007'}",
                )
            ],
            "dev.yaml": [
                ("environment: {LOG_LEVEL: debug}", "environment: {LOG_LEVEL: debug, WORKERS: 1}")
            ],
        },
    )
    project = load_project(directory)

    assert project.services["web"].environment == {
        "LOG_LEVEL": "info",
        "WORKERS": "4",
        "RATIO": "0.5",
        "ZIP": "007",
    }
    assert project.variables(env(project, "dev"), "web")["WORKERS"] == "1"
    assert project.variables(env(project, "prod"), "web")["WORKERS"] == "4"


@pytest.mark.parametrize("value", ["true", "false", "yes", "off"])
@pytest.mark.parametrize(
    ("file", "old", "key"),
    [
        ("pipeline.yaml", "environment: {LOG_LEVEL: info}", "services.web.environment.DEBUG"),
        ("prod.yaml", "environment: {LOG_LEVEL: warn}", "services.web.environment.DEBUG"),
    ],
)
def test_boolean_values_are_refused_with_a_hint(
    tmp_path: Path, file: str, old: str, key: str, value: str
) -> None:
    new = old.replace("}", f", DEBUG: {value}}}")
    directory = edited_example(tmp_path / "env", {file: [(old, new)]})

    with pytest.raises(ConfigError) as caught:
        load_project(directory)

    [problem] = caught.value.problems
    lines = (directory / file).read_text().splitlines()
    assert problem.file == directory / file
    assert problem.line is not None and f"DEBUG: {value}" in lines[problem.line - 1]
    assert problem.key == key
    assert 'quote the value ("true"/"false")' in problem.message


def test_quoted_boolean_values_are_kept_as_strings(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {
            "pipeline.yaml": [
                ("environment: {LOG_LEVEL: info}", "environment: {LOG_LEVEL: info, DEBUG: 'yes'}")
            ]
        },
    )

    assert load_project(directory).services["web"].environment["DEBUG"] == "yes"
