"""The stand-ins the embedded AWS creates for what the environment files say already exists."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.config.loader import load_project
from tests.support import ROOT

LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:222222222222:listener/app/shop-dev/{0}/{0}"
DEV_LOAD_BALANCER = f"""\
load_balancer:
  listener_arn: {LISTENER.format("0123456789abcdee")}
  host: dev.shop.example.com
  priority: 10
  security_group: sg-0a1b2c3d4e5f60101
services:
"""


def test_two_load_balancers_of_one_account_may_share_a_security_group(
    tmp_path: Path, fake_aws_credentials: None
) -> None:
    from moto import mock_aws

    from pipelines.local.embedded import Accounts, create_standins

    environments = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", environments)
    dev = environments / "dev.yaml"
    dev.write_text(dev.read_text().replace("services:\n", DEV_LOAD_BALANCER, 1))
    project = load_project(environments)
    by_name = {env.name: env for env in project.environments}
    assert by_name["dev"].load_balancer is not None and by_name["staging"].load_balancer
    assert by_name["dev"].account == by_name["staging"].account
    shared = by_name["staging"].load_balancer.security_group
    assert by_name["dev"].load_balancer.security_group == shared

    with mock_aws():
        accounts = Accounts()
        create_standins(accounts, project)
        elbv2 = accounts.client("elbv2", "222222222222", "eu-west-1")
        balancers = elbv2.describe_load_balancers()["LoadBalancers"]
        assert sorted(b["LoadBalancerName"] for b in balancers) == ["shop-dev", "shop-staging"]
        assert all(b["SecurityGroups"] == [shared] for b in balancers)
        ec2 = accounts.client("ec2", "222222222222", "eu-west-1")
        groups = ec2.describe_security_groups(GroupIds=[shared])["SecurityGroups"]
        assert len(groups) == 1
