"""A step with `on_rollback: skip` in the rehearsal: the stage rollback runs the stage's actions
again with the earlier execution, but not that step (as the invoker skips it on AWS)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.aws.errors import FAILED
from pipelines.console import ConsoleReporter
from pipelines.local.rehearse import RehearsalOptions, rehearse
from tests.local.test_rehearse import MOTO_WARNINGS
from tests.support import EXAMPLE

pytestmark = MOTO_WARNINGS


@pytest.mark.slow
def test_a_rollback_of_prod_skips_the_migration_that_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.local.embedded import Accounts

    environments = tmp_path / "environments"
    shutil.copytree(EXAMPLE, environments)
    prod = environments / "prod.yaml"
    text = prod.read_text()
    assert text.count("    - migrate.migrate\n") == 1
    prod.write_text(
        text.replace(
            "    - migrate.migrate\n", "    - run: migrate.migrate\n      on_rollback: skip\n"
        )
    )

    def ask(question: str) -> bool:
        # The second execution's prod approval also puts prod's alarm into ALARM: the bake's
        # condition rolls prod back to the first execution.
        if " into prod (execution #2)" in question:
            Accounts().client("cloudwatch", "333333333333", "eu-west-1").set_alarm_state(
                AlarmName="shop-prod-5xx", StateValue="ALARM", StateReason="test: 5xx"
            )
        return True

    result = rehearse(
        RehearsalOptions(environments, approve="ask", push=2, ask=ask), ConsoleReporter()
    )
    output = capsys.readouterr().out
    assert result.exit_code == FAILED  # the release did not stay in prod
    prod_steps = [
        (e.execution, e.what, e.detail)
        for e in result.events
        if e.stage == "prod" and e.what.startswith("runner ")
    ]
    # Each release's execution admitted the migration (and stood in for it); the rollback
    # skipped it, where it would have run the first image's migrations again.
    assert [w for w in prod_steps if w[2] == "migrate.migrate"][-1][1] == (
        "runner skipped on rollback"
    )
    assert sum(w[1] == "runner stood in" and w[2] == "migrate.migrate" for w in prod_steps) == 2
    assert "migrate.migrate: skipped: execution " in output
    assert "is a stage rollback (on_rollback: skip)" in output
