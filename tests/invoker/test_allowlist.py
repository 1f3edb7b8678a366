"""The gatekeeper: the hostile corpus is refused in full, allowed requests give exact argv, and
no shell metacharacter gets through unless an allow-list pattern spells it out."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.invoker.allowlist import (
    MAX_ARGS,
    Refused,
    RunRequest,
    admit,
    parse_step,
    request_from_json,
)
from pipelines.invoker.document import Runner, Script
from tests.invoker.support import admit_case, cases, document, request

HOSTILE = cases("hostile.yaml")
ALLOWED = cases("allowed.yaml")


def test_the_hostile_corpus_is_refused_in_full() -> None:
    doc = document()
    misses: list[str] = []
    refused = 0
    for case in HOSTILE:
        try:
            admitted = admit_case(doc, case)
        except Refused as error:
            reason = error.reason
            if case["reason"] not in reason:
                misses.append(f"{case['name']}: refused, but {reason!r} lacks {case['reason']!r}")
            elif not reason.isprintable():
                misses.append(f"{case['name']}: the reason is not one printable line: {reason!r}")
            else:
                refused += 1
            continue
        misses.append(f"{case['name']}: ADMITTED as {admitted.argv}")
    print(f"\nhostile corpus: {refused}/{len(HOSTILE)} refused with the expected reason")
    assert not misses, "\n".join(misses)
    assert len(HOSTILE) >= 60
    assert refused == len(HOSTILE)


def test_hostile_cases_have_unique_names() -> None:
    names = [case["name"] for case in HOSTILE]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", ALLOWED, ids=[c["name"] for c in ALLOWED])
def test_allowed_requests_give_the_exact_argv(case: dict) -> None:
    admitted = admit_case(document(), case)
    assert list(admitted.argv) == case["argv"]
    for key in ("cpu", "memory", "max_wait_minutes"):
        if key in case:
            assert getattr(admitted, key) == case[key]


def test_a_refusal_reason_is_one_line_whatever_the_input() -> None:
    with pytest.raises(Refused) as caught:
        admit(document().runners, request("no\nsuch\rrunner\u2028x", "plan"))
    assert caught.value.reason.isprintable()
    assert "\\n" in caught.value.reason  # shown escaped, so a log reader sees what was sent


def test_a_plain_string_is_never_split_into_arguments() -> None:
    with pytest.raises(Refused, match="not a shell string"):
        admit(document().runners, RunRequest("echo", "args", "a b"))  # type: ignore[arg-type]


def test_codepipeline_variables_are_deferred_only_when_asked() -> None:
    runners = document().runners
    step = parse_step(
        "cloudformation-applier.apply --stack shop-prod-web --change-set #{Plan.changeSetId}"
    )
    admitted = admit(runners, step, allow_variables=True)
    assert admitted.deferred == ("#{Plan.changeSetId}",)
    assert admitted.argv[-1] == "#{Plan.changeSetId}"
    with pytest.raises(Refused, match="does not match its pattern"):
        admit(runners, step)
    # Deferring a value skips only its pattern: the other rules still hold.
    with pytest.raises(Refused, match="starts with '-'"):
        admit(runners, parse_step("terraform-applier.apply --plan=-#{A.b}"), allow_variables=True)


def test_request_json_defaults() -> None:
    parsed, environment, image = request_from_json({"runner": "migrate", "script": "migrate"})
    assert parsed == RunRequest("migrate", "migrate")
    assert environment is None
    assert image is None


# Property: random tokens full of shell syntax never reach an argv unless a pattern admits them.

META = ";&|$`<>()'\"\\*?{}[]~!#\n\r\t\0 "
STRICT = Script(
    command=("job",),
    options=("--always", "on"),
    allowed_options={"--name": "[a-z]{1,8}", "--count": "[0-9]{1,3}", "--dry": None},
    positional=True,
    positional_pattern="[A-Za-z0-9_./:@+][A-Za-z0-9_./:@+=,-]{0,255}",
)
LOOSE = Script(
    command=("job",),
    options=(),
    allowed_options={"--name": "[a-z]{1,8}", "--note": r"[^\n]{0,40}"},
    positional=False,
    positional_pattern="x",
)
RUNNERS = {
    "r": Runner(
        on="ecs",
        image="i",
        cpu=256,
        memory=512,
        max_wait_minutes=10,
        privileged=False,
        scripts={"strict": STRICT, "loose": LOOSE},
    )
}

token = st.one_of(
    st.sampled_from(["--name", "--count", "--dry", "--note", "--always", "--", "-", "-x"]),
    st.text(alphabet=st.sampled_from("abz09-=_./" + META), max_size=12),
    st.builds(
        lambda o, v: f"{o}={v}",
        st.sampled_from(["--name", "--count", "--note", "--dry"]),
        st.text(alphabet=st.sampled_from("abz09-" + META), max_size=8),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.sampled_from(["strict", "loose"]), args=st.lists(token, max_size=8))
def test_shell_metacharacters_pass_only_where_a_pattern_admits_them(
    script: str, args: list[str]
) -> None:
    spec = RUNNERS["r"].scripts[script]
    try:
        admitted = admit(RUNNERS, RunRequest("r", script, tuple(args)))
    except Refused as error:
        assert error.reason.isprintable()
        return
    caller = list(admitted.argv[len(spec.command) + len(spec.options) :])
    assert len(caller) <= 2 * MAX_ARGS
    # Walk the caller's part as the script's parser would: option, its value, ... positionals.
    index = 0
    while index < len(caller) and caller[index].startswith("-"):
        option = caller[index]
        assert option in spec.allowed_options
        pattern = spec.allowed_options[option]
        if pattern is not None:
            value = caller[index + 1]
            assert re.fullmatch(pattern, value)
            assert not value.startswith("-")
            index += 1
        index += 1
    for positional in caller[index:]:
        assert spec.positional
        assert re.fullmatch(spec.positional_pattern, positional)
        assert not positional.startswith("-")
    # Only the loose `--note` pattern admits shell syntax, and never a control character.
    for position, value in enumerate(caller):
        if any(c in META for c in value):
            assert position > 0 and caller[position - 1] == "--note", caller
            assert not set(value) & set("\n\r\t\0")


DOC = document()
SCRIPTS = sorted((r, s) for r, runner in DOC.runners.items() for s in runner.scripts)
OPTION_NAMES = sorted(
    {
        o
        for runner in DOC.runners.values()
        for s in runner.scripts.values()
        for o in s.allowed_options
    }
)
real_token = st.one_of(
    st.sampled_from(OPTION_NAMES),
    st.text(alphabet=st.sampled_from("abz09-=_./:@" + META), max_size=16),
    st.builds(
        lambda o, v: f"{o}={v}",
        st.sampled_from(OPTION_NAMES),
        st.text(alphabet=st.sampled_from("abz09-./" + META), max_size=10),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(SCRIPTS), args=st.lists(real_token, max_size=8))
def test_the_real_allow_lists_admit_only_what_their_patterns_match(
    target: tuple[str, str], args: list[str]
) -> None:
    runner, script_name = target
    spec = DOC.runners[runner].scripts[script_name]
    try:
        admitted = admit(DOC.runners, RunRequest(runner, script_name, tuple(args)))
    except Refused:
        return
    caller = list(admitted.argv[len(spec.command) + len(spec.options) :])
    index = 0
    while index < len(caller) and caller[index].startswith("-"):
        pattern = spec.allowed_options[caller[index]]
        if pattern is not None:
            index += 1
            assert re.fullmatch(pattern, caller[index]) and not caller[index].startswith("-")
        index += 1
    for positional in caller[index:]:
        assert spec.positional and re.fullmatch(spec.positional_pattern, positional)
    for value in caller:
        assert not set(value) & set("\n\r\t\0")
        # Of the real allow-lists only echo.say's --text spells out shell syntax.
        if set(value) & set(";&|$`<>()'\"\\*?{}[]~!# "):
            assert (runner, script_name) == ("echo", "say"), (runner, script_name, caller)
