"""`Permission`: one IAM statement a user grants a role, for a service's task role and a runner's
job role alike: named actions on named resources, with optional conditions.

One rule for `*`, everywhere a user writes a permission: an action is named in full (`s3:*` is
refused) and a resource is an ARN (wildcards inside it allowed, `*` alone refused). The one
exception is not written by users: a built-in runner may hold `Resource: "*"` for an action
without resource-level permissions (`ecr:GetAuthorizationToken`, EC2's Describe calls), made
with `Permission.on_any_resource`; the `iam-actions` conformance rule checks every such statement
against AWS's Service Authorization Reference.

No `from __future__ import annotations`: see models.py.
"""

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from pipelines.config.matches import Matches

# The IAM condition operators a permission may use; builders/iam.py renders each of them.
ConditionOperator = Literal[
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Bool",
    "StringEquals",
    "StringLike",
    "StringNotEquals",
    "StringNotLike",
    "ForAnyValue:StringEquals",
    "ForAnyValue:StringLike",
    "ForAllValues:StringEquals",
    "ForAllValues:StringLike",
]
CONDITION_OPERATORS: tuple[ConditionOperator, ...] = get_args(ConditionOperator)

_ConditionValue = Annotated[str, Field(min_length=1, max_length=2048)]
Conditions = dict[
    ConditionOperator,
    Annotated[
        dict[
            Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+:[A-Za-z0-9_./:-]+$")],
            _ConditionValue | Annotated[list[_ConditionValue], Field(min_length=1)],
        ],
        Field(min_length=1),
    ],
]
CONDITIONS_DESCRIPTION = (
    "IAM conditions on the statement, by operator, then condition key, then a value or a list "
    "of values: {StringEquals: {iam:PassedToService: cloudformation.amazonaws.com}}."
)

IamAction = Annotated[
    str,
    Matches(
        r"[a-z0-9-]+:[A-Za-z0-9]+",
        "an IAM action named in full, with no wildcard",
        "s3:GetObject",
    ),
]
ResourceArn = Annotated[
    str,
    Matches(
        r"arn:aws(?:-cn|-us-gov)?:[a-z0-9-]+:[a-z0-9-]*:(?:\d{12})?:\S+",
        "a resource ARN ('*' alone is not accepted: name the resources)",
        "arn:aws:s3:::shop-uploads/*",
    ),
]
ANY_RESOURCE = "*"


class Permission(BaseModel):
    """One IAM statement of a role: named actions on named resources.

    A Deny statement names what the role must never do even where another statement allows it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    effect: Literal["Allow", "Deny"] = "Allow"
    actions: Annotated[list[IamAction], Field(min_length=1)]
    resources: Annotated[list[ResourceArn], Field(min_length=1)]
    conditions: Conditions = Field(default={}, description=CONDITIONS_DESCRIPTION)

    @classmethod
    def on_any_resource(cls, actions: list[str]) -> "Permission":
        """Allow `actions` on `Resource: "*"`: only for actions that take no resource-level
        permissions, where IAM accepts nothing else. For the built-in runners only; no YAML
        reaches it (see the module's docstring)."""
        # The actions are checked as in any permission; the resource is the exception.
        named = TypeAdapter(Annotated[list[IamAction], Field(min_length=1)]).validate_python(
            actions
        )
        return cls.model_construct(
            effect="Allow", actions=named, resources=[ANY_RESOURCE], conditions={}
        )
