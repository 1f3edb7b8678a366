"""runners.json: the committed fixture is what the code writes, the pydantic-free loader reads
it back faithfully, and a broken document fails with the key that is wrong."""

from __future__ import annotations

import json

import pytest

from pipelines.runner import document as doc_module
from pipelines.runner.allowlist import Refused, RunRequest, admit
from pipelines.runner.document import DocumentError, load_document
from pipelines.runner.spec import DEFAULT_POSITIONAL_PATTERN, RunnerSpec, ScriptSpec
from tests.runner import fixture_runners
from tests.runner.support import RUNNERS_JSON, admit_case, cases, document


def test_the_fixture_is_what_dump_document_writes() -> None:
    # Regenerate with `.venv/bin/python -m tests.runner.fixture_runners`.
    assert RUNNERS_JSON.read_text(encoding="utf-8") == fixture_runners.document_text()


def test_the_loader_defaults_are_spec_py_defaults() -> None:
    assert doc_module.DEFAULT_POSITIONAL_PATTERN == DEFAULT_POSITIONAL_PATTERN
    for key, value in doc_module.RUNNER_DEFAULTS.items():
        assert RunnerSpec.model_fields[key].get_default(call_default_factory=True) == value, key
    for key, value in doc_module.SCRIPT_DEFAULTS.items():
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
        release_repository=fixture_runners.RELEASE_REPOSITORY,
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
    data = json.loads(RUNNERS_JSON.read_text(encoding="utf-8"))
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
