import pytest
from pydantic import ValidationError

from pipelines.config.models import ROLLOUT_DEFAULTS, Rollout


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
    effective = environment.over(pipeline.over(ROLLOUT_DEFAULTS))
    assert (effective.stop_timeout, effective.deregistration_delay) == (40, 5)
    assert effective.health_check_interval == ROLLOUT_DEFAULTS.health_check_interval
