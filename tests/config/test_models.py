import dataclasses

import pytest
from pydantic import ValidationError

from pipelines.config.models import (
    AWS_ROLLOUT_DEFAULTS,
    ROLLOUT_DEFAULTS,
    ResolvedRollout,
    Rollout,
    resolve_rollout,
)


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("30s", "(30)"),
        ("2m", "(120)"),
        ("1 min", "(60)"),
        ("1h", "(3600)"),
        ("500ms", "(at least 1)"),
    ],
)
def test_durations_with_units_are_refused_with_the_number_to_write(written, hint) -> None:
    with pytest.raises(ValidationError) as caught:
        Rollout(deregistration_delay=written)
    assert f"write whole seconds as a plain number {hint}" in str(caught.value)


def test_fractional_seconds_are_refused() -> None:
    with pytest.raises(ValidationError, match="write whole seconds"):
        Rollout(stop_timeout=2.5)


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [
        ("deregistration_delay", 0, 3600),
        ("health_check_interval", 5, 300),
        ("health_check_timeout", 2, 120),
        ("healthy_threshold", 2, 10),
        ("unhealthy_threshold", 2, 10),
        ("health_check_grace_period", 0, 2147483647),
        ("stop_timeout", 2, 120),
        ("minimum_healthy_percent", 0, 100),
        ("maximum_percent", 100, 200),
    ],
)
def test_each_setting_accepts_exactly_the_aws_range(key, low, high) -> None:
    assert getattr(Rollout(**{key: low}), key) == low
    assert getattr(Rollout(**{key: high}), key) == high
    for outside in (low - 1, high + 1):
        with pytest.raises(ValidationError):
            Rollout(**{key: outside})


def test_unset_settings_fall_back_in_order() -> None:
    pipeline = Rollout(stop_timeout=20, deregistration_delay=5)
    environment = Rollout(stop_timeout=40)
    effective = resolve_rollout(pipeline, environment)
    assert (effective.stop_timeout, effective.deregistration_delay) == (40, 5)
    assert effective.health_check_interval == ROLLOUT_DEFAULTS.health_check_interval


def test_nothing_written_resolves_to_the_defaults() -> None:
    assert resolve_rollout(Rollout(), Rollout()) == ROLLOUT_DEFAULTS


def test_every_key_a_file_may_write_is_a_setting_in_effect_and_the_reverse() -> None:
    written = set(Rollout.model_fields)
    resolved = {f.name for f in dataclasses.fields(ResolvedRollout)}
    assert written == resolved
    for name in resolved:
        # Every key is optional as written: unset, it falls back.
        assert Rollout.model_fields[name].is_required() is False


@pytest.mark.parametrize("defaults", [ROLLOUT_DEFAULTS, AWS_ROLLOUT_DEFAULTS])
def test_the_tables_of_defaults_are_within_what_a_file_may_write(defaults) -> None:
    # A setting with no default (the test header) is one a file leaves unwritten.
    table = {k: v for k, v in dataclasses.asdict(defaults).items() if v is not None}
    assert Rollout(**table).written() == table
