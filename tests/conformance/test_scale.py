"""Realistic apps (a load balancer, alarms, a secret per service) of 12, 50 and 100 services in
4 environments synthesize within every IAM quota, and their roles do not grow with the services:
the quota that once stopped deploys at about 12 services is measured, not assumed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.conformance.model import StackTemplate
from pipelines.conformance.policy_text import iam_characters
from pipelines.render import Synthesis
from pipelines.synth import synthesize
from tests.conformance.support import stack_templates

pytestmark = pytest.mark.slow

ENVIRONMENTS = ["dev", "test", "staging", "prod"]
ACCOUNTS = {"dev": "222222222222", "test": "222222222222", "staging": "333333333333"}


def write_configuration(directory: Path, services: int) -> Path:
    directory.mkdir(parents=True)
    names = [f"svc{i:03d}" for i in range(services)]
    pipeline = {
        "app": "big",
        "toolchain": {"account": "111111111111", "region": "eu-west-1"},
        "image": {"repository": "big/app"},
        "promotion": ENVIRONMENTS,
        "services": {
            name: {"port": 8080, "cpu": 256, "memory": 512, "path": f"/{name}/*"} for name in names
        },
    }
    (directory / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    for env in ENVIRONMENTS:
        account = ACCOUNTS.get(env, "444444444444")
        region = "eu-central-1" if env == "prod" else "eu-west-1"
        document = {
            "account": account,
            "region": region,
            "network": {"vpc": "vpc-0a1b2c3d4e5f60718", "subnets": ["subnet-0a1b2c3d4e5f60001"]},
            "load_balancer": {
                "listener_arn": f"arn:aws:elasticloadbalancing:{region}:{account}:listener/app/"
                f"big-{env}/0123456789abcdef/0123456789abcdef",
                "host": f"{env}.big.example.com",
                "priority": 100,
                "security_group": "sg-0a1b2c3d4e5f60101",
            },
            "alarms": [f"big-{env}-5xx"],
            "services": {
                name: {
                    "secrets": {
                        "DB_PASSWORD": f"arn:aws:secretsmanager:{region}:{account}:secret:"
                        f"big/{env}/{name}/db"
                    }
                }
                for name in names
            },
        }
        (directory / f"{env}.yaml").write_text(yaml.safe_dump(document))
    return directory


def largest_policies(templates: list[StackTemplate]) -> dict[str, int]:
    """Kind of stack and policy -> the most characters one such policy has (a role's inline
    policies together, or a managed policy)."""
    sizes: dict[str, int] = {}
    for stack in templates:
        for _, role in stack.resources("AWS::IAM::Role"):
            size = sum(
                iam_characters(p["PolicyDocument"], stack)
                for p in role["Properties"].get("Policies", [])
            )
            sizes[f"{stack.kind} role"] = max(sizes.get(f"{stack.kind} role", 0), size)
        for _, policy in stack.resources("AWS::IAM::ManagedPolicy"):
            size = iam_characters(policy["Properties"]["PolicyDocument"], stack)
            sizes[f"{stack.kind} managed"] = max(sizes.get(f"{stack.kind} managed", 0), size)
    return sizes


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("scale")
    return {n: write_configuration(root / str(n), n) for n in (12, 50, 100)}


@pytest.mark.parametrize("services", [12, 50, 100])
def test_a_realistic_app_synthesizes_within_every_quota(
    synthesized: dict[int, Path], services: int
) -> None:
    synthesis: Synthesis = synthesize(synthesized[services])  # conformance refuses otherwise
    assert len([o for o in synthesis.outputs if o.stack.kind == "service"]) == services * 4


def test_the_environment_roles_do_not_grow_with_the_services(synthesized: dict[int, Path]) -> None:
    small = largest_policies(stack_templates(synthesized[12]))
    large = largest_policies(stack_templates(synthesized[100]))
    assert set(small) >= {"deploy role", "deploy managed", "service role", "pipeline role"}
    for kind in ("deploy role", "deploy managed", "service role"):
        assert large[kind] == small[kind], (kind, small[kind], large[kind])
    assert large["deploy managed"] < 6_144
    assert max(large.values()) < 10_240
