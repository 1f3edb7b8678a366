"""Policies measured as IAM counts them and evaluated as the rules need."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pipelines.conformance.model import StackTemplate
from pipelines.conformance.policy_text import (
    UNRESOLVED_CHARS,
    allowed,
    iam_characters,
    matches,
    prepare,
    resolved,
    utf8_bytes,
)

STACK = StackTemplate("shop-prod-web", "service", "333333333333", "eu-west-1", {}, "111111111111")


def test_iam_counts_no_white_space_not_even_inside_values() -> None:
    assert iam_characters({"Sid": "a b"}, STACK) == len('{"Sid":"ab"}')


def test_pseudo_parameters_resolve_to_the_stacks_own_values() -> None:
    value = {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:x"}
    assert resolved(value, STACK) == "arn:aws:logs:eu-west-1:333333333333:x"


def test_what_is_made_at_deploy_time_counts_as_the_longest_it_can_be() -> None:
    assert iam_characters({"Fn::GetAtt": ["Key", "Arn"]}, STACK) == UNRESOLVED_CHARS + 2
    joined = {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]}
    assert len(resolved(joined, STACK)) == UNRESOLVED_CHARS + 2


def test_bytes_count_multibyte_characters() -> None:
    assert utf8_bytes("é", STACK) == len('"é"'.encode())


def _policy(*statements: dict[str, object]) -> list[dict[str, object]]:
    return list(statements)


def test_a_deny_wins_and_wildcards_match_as_iam_matches_them() -> None:
    policy = prepare(
        _policy(
            {
                "Effect": "Allow",
                "Action": ["ECS:Delete*"],
                "Resource": ["arn:aws:ecs:*:1:cluster/a-*"],
            },
            {"Effect": "Deny", "Action": ["ecs:DeleteCluster"], "Resource": ["*:cluster/a-runner"]},
        ),
        STACK,
    )
    assert allowed(policy, "ecs:DeleteCluster", "arn:aws:ecs:eu-west-1:1:cluster/a-web")
    assert not allowed(policy, "ecs:DeleteCluster", "arn:aws:ecs:eu-west-1:1:cluster/a-runner")
    assert not allowed(policy, "ecs:DeleteCluster", "arn:aws:ecs:eu-west-1:1:cluster/b-web")


def test_conditions_on_known_keys_are_evaluated_and_others_taken_as_possible() -> None:
    boundary = "arn:aws:iam::1:policy/boundary"
    policy = prepare(
        _policy(
            {
                "Effect": "Allow",
                "Action": ["iam:PutRolePolicy"],
                "Resource": ["*"],
                "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}},
            },
            {
                "Effect": "Deny",
                "Action": ["iam:PutRolePolicy"],
                "Resource": ["*"],
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
            },
        ),
        STACK,
    )
    role = "arn:aws:iam::1:role/r"
    assert allowed(policy, "iam:PutRolePolicy", role, {"iam:PermissionsBoundary": boundary})
    assert not allowed(policy, "iam:PutRolePolicy", role, {"iam:PermissionsBoundary": ""})
    # Unknown condition: the Allow may apply; the Deny is not assumed to.
    assert allowed(policy, "iam:PutRolePolicy", role)


def test_an_arn_fits_a_resource_type_as_iam_would_match_it() -> None:
    from pipelines.conformance.iam_actions import fits

    stream = "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:log-stream:${S}"
    # A group pattern reaches its streams: IAM's * spans the colons.
    assert fits("arn:aws:logs:eu-west-1:1:log-group:/ecs/shop/dev/*", stream)
    assert not fits("arn:aws:logs:eu-west-1:1:destination:x", stream)
    family = "arn:${Partition}:ecs:${Region}:${Account}:task-definition/${Family}:${Revision}"
    assert fits("arn:aws:ecs:eu-west-1:1:task-definition/shop-web:3", family)
    assert not fits("arn:aws:ecs:eu-west-1:1:cluster/shop", family)
    assert not fits("arn:aws:sqs:eu-west-1:1:task-definition/x:1", family)  # another service


def _as_regex(pattern: str) -> re.Pattern[str]:
    """IAM's wildcards as the regular expression they mean: the reference the matcher must agree
    with."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )


# A small alphabet, so that generated patterns and texts share characters and match often.
PATTERNS = st.text(alphabet="ab:/*?", max_size=12)
TEXTS = st.text(alphabet="ab:/", max_size=14)


@given(PATTERNS, TEXTS)
def test_wildcards_match_exactly_where_their_regular_expression_does(
    pattern: str, text: str
) -> None:
    assert matches(pattern, text) == bool(_as_regex(pattern).fullmatch(text))


def test_wildcards_cover_the_whole_text_and_keep_their_order() -> None:
    assert matches("arn:*:ecs:*:1:cluster/a-*", "arn:aws:ecs:eu-west-1:1:cluster/a-web")
    assert not matches("a*b*c", "acb")
    assert matches("a*a", "aa") and not matches("a*a", "a")
    assert matches("a?c", "abc") and not matches("a?c", "ac")
    assert matches("*", "") and not matches("?", "")
