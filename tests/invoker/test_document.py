"""runners.json: the committed fixture is what the code writes, the pydantic-free loader reads
it back faithfully, and a broken document fails with the key that is wrong."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pipelines.config.runner_spec import RunnerSpec, ScriptSpec
from pipelines.invoker.allowlist import Refused, RunRequest, admit
from pipelines.invoker.defaults import DEFAULT_POSITIONAL_PATTERN, RUNNER_DEFAULTS, SCRIPT_DEFAULTS
from pipelines.invoker.document import (
    DocumentError,
    Network,
    Target,
    dump_document,
    load_document,
)
from tests.invoker import fixture_runners
from tests.invoker.support import RUNNERS_JSON, admit_case, cases, document


def test_the_fixture_is_what_dump_document_writes() -> None:
    # Regenerate with `.venv/bin/python -m tests.invoker.fixture_runners`.
    assert RUNNERS_JSON.read_text(encoding="utf-8") == fixture_runners.document_text()


def test_the_models_defaults_are_the_documents_defaults() -> None:
    for key, value in RUNNER_DEFAULTS.items():
        assert RunnerSpec.model_fields[key].get_default(call_default_factory=True) == value, key
    for key, value in SCRIPT_DEFAULTS.items():
        assert ScriptSpec.model_fields[key].get_default(call_default_factory=True) == value, key


def test_loading_keeps_every_field_the_gatekeeper_reads() -> None:
    loaded = document()
    for name, spec in fixture_runners.runners().items():
        runner = loaded.runners[name]
        assert (runner.on, runner.image, runner.cpu, runner.memory) == (
            spec.on,
            spec.image,
            spec.cpu,
            spec.memory,
        )
        assert runner.max_wait_minutes == spec.max_wait_minutes
        for script_name, script in spec.scripts.items():
            got = runner.scripts[script_name]
            assert list(got.command) == script.command
            assert list(got.options) == script.options
            assert dict(got.allowed_options) == script.allowed_options
            assert (got.positional, got.positional_pattern) == (
                script.positional,
                script.positional_pattern,
            )


@pytest.mark.parametrize("name", ["allowed.yaml", "hostile.yaml"])
def test_pydantic_specs_and_the_loaded_document_admit_alike(name: str) -> None:
    loaded = document()
    specs = type(loaded)(
        app="shop",
        runners=fixture_runners.runners(),
        environments=("dev", "staging", "prod"),
        release_repositories=(fixture_runners.RELEASE_REPOSITORY,),
    )
    for case in cases(name):
        outcomes = []
        for source in (loaded, specs):
            try:
                outcomes.append(admit_case(source, case).argv)
            except Refused as error:
                outcomes.append(error.reason)
        assert outcomes[0] == outcomes[1], case["name"]


def test_a_minimal_hand_written_document_gets_the_defaults() -> None:
    text = json.dumps(
        {
            "format": 1,
            "app": "shop",
            "runners": {"t": {"on": "ecs", "image": "x", "scripts": {"s": {"command": ["a"]}}}},
        }
    )
    loaded = load_document(text)
    assert loaded.cluster == "shop-runner"
    assert loaded.log_group == "/pipelines/shop/runner"
    assert loaded.task_definition("t") == "shop-runner-t"
    assert loaded.network is None
    assert loaded.runners["t"].cpu == 256
    assert loaded.runners["t"].scripts["s"].positional_pattern == DEFAULT_POSITIONAL_PATTERN
    assert admit(loaded.runners, RunRequest("t", "s")).argv == ("a",)


def _broken(**changes: object) -> str:
    return _changed(json.loads(RUNNERS_JSON.read_text(encoding="utf-8")), changes)


def _changed(data: dict, changes: dict[str, object]) -> str:
    """`data` with each `a__b__c` key path set to its value (None: removed), as JSON."""
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "not JSON"),
        (_broken(format=2), "format: expected 1"),
        (_broken(runners__migrate__on="lambda"), "runners.migrate.on: expected ecs or codebuild"),
        (_broken(runners__migrate__cpu="512"), "runners.migrate.cpu: expected a positive whole"),
        (_broken(runners__migrate__scripts={}), "runners.migrate.scripts: at least one script"),
        (
            _broken(runners__migrate__scripts__migrate__allowed_options={"--x": "("}),
            "runners.migrate.scripts.migrate.--x: bad pattern",
        ),
        (
            _broken(runners__migrate__scripts__migrate__allowed_options={"x": None}),
            "'x' is not an option name",
        ),
        (_broken(runners__migrate__scripts__migrate__command=[]), "command: at least 1"),
        (_broken(network__subnets="subnet-1"), "network.subnets: expected a list"),
        (_broken(runners__migrate__privileged="yes"), "privileged: expected true or false"),
        (_broken(app=None), "app: expected a non-empty string"),
    ],
)
def test_a_broken_document_names_the_key(text: str, fragment: str) -> None:
    with pytest.raises(DocumentError) as caught:
        load_document(text)
    assert fragment in str(caught.value)


# Targets and the release repository


PROD = Target.named(
    "shop", "prod", account="333333333333", region="eu-west-1", subnets=("subnet-0ccc3333",)
)


def _with_targets(**changes: object) -> str:
    data = json.loads(RUNNERS_JSON.read_text(encoding="utf-8"))
    data["targets"] = {
        "prod": {
            "account": "333333333333",
            "region": "eu-west-1",
            "role": "arn:aws:iam::333333333333:role/shop-prod-runner-invoke",
            "subnets": ["subnet-0ccc3333"],
        }
    }
    return _changed(data, changes)


def test_targets_and_the_release_repository_round_trip() -> None:
    staging = Target(
        account="222222222222",
        region="eu-central-1",
        role="arn:aws:iam::222222222222:role/custom-invoke",
        cluster="c",
        log_group="/g",
        stack="s",
        subnets=("subnet-1", "subnet-2"),
        assign_public_ip=True,
        task_definitions={"migrate": "custom-migrate"},
    )
    text = dump_document(
        "shop",
        fixture_runners.runner_data(),
        environments=("staging", "prod"),
        targets={"prod": PROD, "staging": staging},
        release_repository=fixture_runners.RELEASE_REPOSITORY,
    )
    data = json.loads(text)
    assert data["format"] == 1
    assert data["targets"]["prod"] == {
        "account": "333333333333",
        "region": "eu-west-1",
        "role": "arn:aws:iam::333333333333:role/shop-prod-runner-invoke",
        "cluster": "shop-prod-runner",
        "log_group": "/pipelines/shop/prod/runner",
        "stack": "shop-prod-runner",
        "subnets": ["subnet-0ccc3333"],
        "assign_public_ip": False,
        "task_definitions": {},
    }
    loaded = load_document(text)
    assert dict(loaded.targets) == {"prod": PROD, "staging": staging}
    assert loaded.release_repository == fixture_runners.RELEASE_REPOSITORY
    assert loaded.known_environments == ("prod", "staging")
    assert loaded.task_definition("migrate", "prod") == "shop-prod-runner-migrate"
    assert loaded.task_definition("migrate", "staging") == "custom-migrate"
    assert loaded.task_definition("migrate") == "shop-runner-migrate"


def test_a_toolchain_network_may_name_the_stack_of_its_security_group() -> None:
    network = Network(subnets=("subnet-1",), stack="shop-runner")
    text = dump_document("shop", fixture_runners.runner_data(), network=network)
    assert json.loads(text)["network"] == {
        "subnets": ["subnet-1"],
        "security_groups": [],
        "assign_public_ip": False,
        "stack": "shop-runner",
    }
    assert load_document(text).network == network
    # Without a stack, the group must be given.
    broken = text.replace('"stack": "shop-runner"', '"unused": 1')
    with pytest.raises(DocumentError, match=r"network\.security_groups"):
        load_document(broken)


def test_without_targets_nothing_changes() -> None:
    loaded = document()
    assert loaded.targets == {}
    assert loaded.known_environments == ("dev", "staging", "prod")
    assert "targets" not in json.loads(fixture_runners.document_text())


def test_target_names_default_from_naming() -> None:
    loaded = load_document(_with_targets())
    assert loaded.targets["prod"] == PROD
    assert PROD.role == "arn:aws:iam::333333333333:role/shop-prod-runner-invoke"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (_with_targets(targets__prod__account="3333"), "targets.prod.account: expected 12 digits"),
        (
            _with_targets(targets__prod__role="arn:aws:iam::444444444444:role/x"),
            "targets.prod.role: not a role of account 333333333333",
        ),
        (_with_targets(targets__prod__role="shop-prod"), "targets.prod.role: expected an IAM"),
        (_with_targets(targets__prod__region="mars"), "targets.prod.region: expected a region"),
        (_with_targets(targets__prod__subnets=[]), "targets.prod.subnets: at least 1"),
        (_with_targets(targets__prod__subnets=None), "targets.prod.subnets: expected a list"),
        (
            _with_targets(targets__prod__assign_public_ip="no"),
            "targets.prod.assign_public_ip: expected true or false",
        ),
        (
            _with_targets(targets__prod__task_definitions={"migrate": 3}),
            "targets.prod.task_definitions.migrate: expected a non-empty string",
        ),
        (_with_targets(targets=["prod"]), "targets: expected an object"),
        (_with_targets(targets__qa={}), "targets.qa: not one of the environments"),
        (_with_targets(release_repository="r/shop-web:1"), "release_repository: expected"),
        (
            _with_targets(release_repository="r/shop-web@sha256:" + "0" * 64),
            "release_repository: expected registry/repository",
        ),
    ],
)
def test_a_broken_target_names_the_key(text: str, fragment: str) -> None:
    with pytest.raises(DocumentError) as caught:
        load_document(text)
    assert fragment in str(caught.value)


def test_dump_document_refuses_what_the_invoker_could_not_read() -> None:
    with pytest.raises(DocumentError, match=r"targets\.prod\.subnets: at least 1"):
        dump_document(
            "shop", fixture_runners.runner_data(), targets={"prod": replace(PROD, subnets=())}
        )
