"""Configured permissions as IAM statements: effect, actions, resources and conditions."""

from __future__ import annotations

import json

import pytest

from pipelines.builders.iam import granted_statements
from pipelines.config.permissions import CONDITION_OPERATORS, Permission


def _rendered(permission: object) -> dict:
    [statement] = granted_statements([permission])
    return json.loads(statement.to_json())


@pytest.mark.parametrize("operator", CONDITION_OPERATORS)
def test_every_operator_the_contract_accepts_is_rendered_under_its_own_name(operator: str) -> None:
    permission = Permission(
        actions=["s3:GetObject"],
        resources=["arn:aws:s3:::shop-uploads/*"],
        conditions={operator: {"aws:PrincipalTag/team": ["shop", "payments"]}},
    )
    assert _rendered(permission)["Condition"] == {
        operator: {"aws:PrincipalTag/team": ["shop", "payments"]}
    }


def test_a_deny_statement_keeps_its_actions_resources_and_conditions() -> None:
    permission = Permission(
        effect="Deny",
        actions=["s3:DeleteObject"],
        resources=["arn:aws:s3:::shop-receipts/*"],
        conditions={"StringNotEquals": {"aws:PrincipalAccount": "111111111111"}},
    )
    assert _rendered(permission) == {
        "Effect": "Deny",
        "Action": ["s3:DeleteObject"],
        "Resource": ["arn:aws:s3:::shop-receipts/*"],
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "111111111111"}},
    }


def test_without_conditions_a_statement_has_none_and_allows() -> None:
    permission = Permission(actions=["s3:GetObject"], resources=["arn:aws:s3:::shop-uploads/*"])
    assert _rendered(permission) == {
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::shop-uploads/*"],
    }


def test_conditions_come_out_in_the_same_order_however_they_were_written() -> None:
    written = {
        "StringLike": {"s3:prefix": "a/*", "aws:SourceVpc": "vpc-1"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    reordered = {
        "Bool": {"aws:SecureTransport": "true"},
        "StringLike": {"aws:SourceVpc": "vpc-1", "s3:prefix": "a/*"},
    }
    texts = {
        granted_statements(
            [Permission(actions=["s3:ListBucket"], resources=["arn:aws:s3:::b"], conditions=c)]
        )[0].to_json(sort_keys=False)
        for c in (written, reordered)
    }
    assert len(texts) == 1
