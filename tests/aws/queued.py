"""The example pipeline with two executions in flight (QUEUED): the older one waits for approval
in staging, the newer one, pushed later, has passed dev and waits to enter staging behind it.
Each environment's stage ends with its release marker (`Mark-deployed`), as the template has it;
the verbs read past it."""

from __future__ import annotations

from typing import Any

from tests.aws.stubs import (
    NOW,
    action,
    action_detail,
    actions_page,
    approval,
    execution_summary,
    pipeline_state,
    source_image,
    stage,
)

E_PREV = "0e7c1a52-3f0b-4d6e-9d0a-6a3c2b1f0001"
E_OLD = "5b2f9c3e-8d41-4a7e-b0c2-7f1e2d3c0002"
E_NEW = "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b0003"
# The two executions in flight share their first 12 hex digits, to test prefixes.
D_PREV = "sha256:" + "1" * 64
D_OLD = "sha256:" + "abcdef012345" + "0" * 52
D_NEW = "sha256:" + "abcdef012345" + "f" * 52
TOKEN = "4c1e9b3a-7d2f-4e8a-9b1c-0d2e3f4a5b6c"


def queued_state(approve_status: str = "InProgress") -> dict[str, Any]:
    """get_pipeline_state: E_OLD waits for approval in staging, E_NEW waits to enter it."""
    token = TOKEN if approve_status == "InProgress" else ""
    return pipeline_state(
        [
            stage(
                "Source",
                (E_NEW, "Succeeded"),
                [action("Image", "Succeeded"), action("Templates", "Succeeded")],
            ),
            stage(
                "dev",
                (E_NEW, "Succeeded"),
                [action("Deploy-web", "Succeeded"), action("Mark-deployed", "Succeeded")],
            ),
            stage(
                "staging",
                (E_OLD, "InProgress"),
                [
                    action("Plan-web", "Succeeded"),
                    approval(approve_status, token, action_execution_id="approve-e-old"),
                    action("Apply-web", "Succeeded"),
                    action("Mark-deployed", "Succeeded"),
                ],
                inbound=[(E_NEW, "InProgress")],
            ),
            stage(
                "prod",
                (E_PREV, "Succeeded"),
                [
                    action("Plan-web", "Succeeded"),
                    approval("Succeeded"),
                    action("Apply-web", "Succeeded"),
                    action("Mark-deployed", "Succeeded"),
                ],
            ),
        ]
    )


def old_execution_actions() -> dict[str, Any]:
    return actions_page(
        [
            action_detail(
                E_OLD,
                "staging",
                "Approve",
                "InProgress",
                action_execution_id="approve-e-old",
            ),
            action_detail(E_OLD, "staging", "Plan-web", "Succeeded"),
            action_detail(E_OLD, "dev", "Mark-deployed", "Succeeded"),
            action_detail(E_OLD, "dev", "Deploy-web", "Succeeded"),
            source_image(E_OLD, D_OLD),
        ]
    )


def in_flight() -> dict[str, Any]:
    return {
        "pipelineExecutionSummaries": [
            execution_summary(E_NEW, "InProgress", D_NEW, NOW.replace(hour=8)),
            execution_summary(E_OLD, "InProgress", D_OLD, NOW.replace(hour=6)),
            execution_summary(E_PREV, "Succeeded", D_PREV, NOW.replace(day=10)),
        ]
    }
