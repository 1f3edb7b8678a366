"""The live table on a terminal, and one line per event elsewhere."""

from __future__ import annotations

import io

from click.testing import CliRunner
from rich.console import Console

from pipelines.aws.progress import report_event
from pipelines.console import ConsoleReporter

EVENT = {
    "LogicalResourceId": "Service",
    "ResourceType": "AWS::ECS::Service",
    "ResourceStatus": "CREATE_FAILED",
    "ResourceStatusReason": "Circuit breaker triggered",
}


def test_on_a_terminal_a_live_table_shows_the_latest_event() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    progress = ConsoleReporter(console)
    with progress.watching(["shop-dev-web", "shop-prod-web"]):
        progress.stack_status("shop-dev-web", "EXECUTING")
        report_event(progress, "shop-dev-web", EVENT)
        progress.stack_status("shop-prod-web", "UPDATE_COMPLETE")
    drawn = screen.getvalue()
    assert "shop-dev-web" in drawn and "shop-prod-web" in drawn
    assert "CREATE_FAILED Service (AWS::ECS::Service): Circuit breaker triggered" in drawn


def test_elsewhere_every_event_is_a_line() -> None:
    def run() -> None:
        progress = ConsoleReporter(Console(file=io.StringIO()))
        with progress.watching(["shop-dev-web"]):
            progress.stack_status("shop-dev-web", "EXECUTING")
            report_event(progress, "shop-dev-web", EVENT)
            progress.stack_status("shop-dev-web", "ROLLBACK_COMPLETE")
            progress.stack_status("shop-dev-web", "ROLLBACK_COMPLETE")  # said once

    runner = CliRunner()
    with runner.isolation() as (out, _, _):
        run()
        lines = out.getvalue().decode().splitlines()
    assert lines == [
        "  shop-dev-web  EXECUTING",
        "  shop-dev-web  CREATE_FAILED  Service (AWS::ECS::Service): Circuit breaker triggered",
        "  shop-dev-web  ROLLBACK_COMPLETE",
    ]
