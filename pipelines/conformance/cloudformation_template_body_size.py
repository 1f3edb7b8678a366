"""CloudFormation: a template passed in the request (TemplateBody) is at most 51,200 bytes;
larger ones must be read from S3 (TemplateURL). `pipelines deploy` can put a template in S3 only
for the toolchain account, where the artifact buckets are, so a stack of an environment account
must fit in the request: with white space removed, as deploy sends it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from pipelines.conformance.model import Finding, Rule, StackTemplate

LIMIT = 51_200


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for stack in templates:
        if stack.account == stack.toolchain_account:
            continue
        compact = json.dumps(stack.body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        size = len(compact.encode())
        if size > LIMIT:
            yield RULE.finding(
                stack,
                "template",
                f"the template is {size:,} bytes without white space; CloudFormation takes at "
                f"most {LIMIT:,} in the request, and account {stack.account} cannot read the "
                "toolchain's artifact bucket (fewer services or runners in this environment)",
            )


RULE = Rule(
    "cloudformation-template-body-size",
    "environment-account templates fit in the CreateChangeSet request",
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html",
    check,
)
