"""`pipelines rollback` against moto: back to the previous image, or to a named one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.local.embedded import Accounts
from tests.aws.workspace import Workspace, parameter, push_image, release, running_image, stack

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")]


@pytest.fixture
def released(aws: Accounts, workspace: Workspace) -> Iterator[dict[str, str]]:
    """Every environment deployed from image a, then prod released to b and then to c."""
    workspace.standins(aws)
    toolchain = workspace.entry("shop-source")
    digests = {}
    deployed = workspace.run("deploy", "--yes", "--stack", "shop-source")
    assert deployed.exit_code == 0, deployed.output
    for seed, tag in (("a", "v1"), ("b", "v2"), ("c", "v3"), ("d", "v4")):
        digests[seed] = push_image(aws, workspace, seed, tag)
    assert toolchain["account"] == "111111111111"
    first = workspace.image_uri(digests["a"])
    deployed = workspace.run("deploy", "--yes", "--bootstrap-image", first)
    assert deployed.exit_code == 0, deployed.output
    prod = workspace.entry("shop-prod-web")
    for seed in ("b", "c"):
        release(aws, prod, workspace.image_uri(digests[seed]))
    assert running_image(aws, prod) == workspace.image_uri(digests["c"])
    yield digests


def _image(aws: Accounts, workspace: Workspace, name: str) -> str:
    entry = workspace.entry(name)
    assert parameter(stack(aws, entry)) == running_image(aws, entry)
    return running_image(aws, entry)


def test_rollback_refuses_returns_to_the_previous_image_and_to_named_ones(
    aws: Accounts, workspace: Workspace, released: dict[str, str]
) -> None:
    """One released world for the three parts (each would deploy every stack again): what
    rollback refuses changes nothing, so prod is still on c for the rollback to the previous
    image and back, and the named images come last."""
    _refuses_what_it_cannot_do(aws, workspace, released)
    _returns_to_the_previous_image(aws, workspace, released)
    _goes_to_a_named_image(aws, workspace, released)


def _returns_to_the_previous_image(
    aws: Accounts, workspace: Workspace, released: dict[str, str]
) -> None:
    b, c = (workspace.image_uri(released[s]) for s in "bc")
    result = workspace.run("rollback", "prod", "--yes")
    assert result.exit_code == 0, result.output
    assert _image(aws, workspace, "shop-prod-web") == b
    assert f"shop-prod-web: {c} -> {b}: done" in result.output
    assert "The pipeline's history does not show this" in result.output
    assert "pipelines reject prod" in result.output
    # Other environments are untouched.
    assert _image(aws, workspace, "shop-staging-web") == workspace.image_uri(released["a"])
    # Like `kubectl rollout undo`, a second rollback undoes the first.
    again = workspace.run("rollback", "prod", "--yes")
    assert again.exit_code == 0, again.output
    assert _image(aws, workspace, "shop-prod-web") == c


def _goes_to_a_named_image(aws: Accounts, workspace: Workspace, released: dict[str, str]) -> None:
    a, d = (workspace.image_uri(released[s]) for s in "ad")
    # A 12-digit prefix of an image that ran here before.
    earlier = workspace.run("rollback", "prod", "--yes", "--to", released["a"][:19])
    assert earlier.exit_code == 0, earlier.output
    assert "ran before in task definition revision" in earlier.output
    assert _image(aws, workspace, "shop-prod-web") == a
    # An image that never ran in prod comes from the release repository.
    never = workspace.run("rollback", "prod", "--yes", "--to", released["d"])
    assert never.exit_code == 0, never.output
    assert "from the release repository" in never.output
    assert _image(aws, workspace, "shop-prod-web") == d
    # Already there: nothing to do.
    same = workspace.run("rollback", "prod", "--yes", "--to", released["d"])
    assert same.exit_code == 0 and "nothing to do" in same.output


def _refuses_what_it_cannot_do(
    aws: Accounts, workspace: Workspace, released: dict[str, str]
) -> None:
    unknown = workspace.run("rollback", "prod", "--yes", "--to", "sha256:" + "9" * 12)
    assert unknown.exit_code == 2
    assert "no image sha256:999999999999 in repository shop-web" in unknown.output
    # dev only ever ran its first image.
    first = workspace.run("rollback", "dev", "--yes")
    assert first.exit_code == 1
    assert "no earlier image in the task definitions of shop-dev-web" in first.output
    unattended = workspace.run("rollback", "prod")  # stdin is not a terminal, no --yes
    assert unattended.exit_code == 2
    assert "pass --yes" in unattended.output
    assert _image(aws, workspace, "shop-prod-web") == workspace.image_uri(released["c"])
    typo = workspace.run("rollback", "prd", "--yes")
    assert typo.exit_code == 2 and "did you mean 'prod'?" in typo.output
