import json
import multiprocessing
import os
from pathlib import Path

import pytest

from pipelines.render import UnsafeOutputError, write_atomically
from pipelines.synth import synthesize
from tests.support import CONFIGURATIONS, EXAMPLE, ROOT, config_id


def test_committed_templates_equal_a_fresh_synth() -> None:
    fresh = synthesize(EXAMPLE).files
    committed_dir = ROOT / "templates"
    committed = {p.name: p.read_bytes() for p in committed_dir.iterdir()}
    regenerate = "run `.venv/bin/python -m tests.regenerate` and commit templates/"
    assert sorted(committed) == sorted(fresh), regenerate
    for name, data in fresh.items():
        assert committed[name] == data, f"templates/{name} is stale: {regenerate}"


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_synth_is_deterministic(config) -> None:
    assert synthesize(config).files == synthesize(config).files


def test_manifest_lists_every_stack_with_order_and_needs(syntheses) -> None:
    manifest = json.loads(syntheses["example"].manifest)
    names = [s["name"] for s in manifest["stacks"]]
    assert names == [
        "shop-source",
        "shop-dev-deploy",
        "shop-dev-web",
        "shop-staging-deploy",
        "shop-staging-web",
        "shop-prod-deploy",
        "shop-prod-web",
        "shop-pipeline",
        "shop-runner",
        "shop-staging-runner",
        "shop-prod-runner",
    ]
    waves = [stack for wave in manifest["deploy_order"] for stack in wave]
    assert sorted(waves) == sorted(names)
    position = {name: i for i, wave in enumerate(manifest["deploy_order"]) for name in wave}
    for stack in manifest["stacks"]:
        for needed in stack["needs"]:
            assert position[needed] < position[stack["name"]]
        assert stack["file"] in syntheses["example"].files
    prod_web = next(s for s in manifest["stacks"] if s["name"] == "shop-prod-web")
    assert prod_web["account"] == "333333333333"
    assert prod_web["parameters"]["ImageUri"]["set_by"] == "pipeline"
    assert prod_web["needs"] == ["shop-source", "shop-prod-deploy"]
    # The invoker's package is read from the pipeline's bucket, so its stack comes after it.
    runner = next(s for s in manifest["stacks"] if s["name"] == "shop-runner")
    assert (runner["kind"], runner["needs"]) == ("runner", ["shop-pipeline"])
    prod_runner = next(s for s in manifest["stacks"] if s["name"] == "shop-prod-runner")
    assert (prod_runner["kind"], prod_runner["account"]) == ("environment-runner", "333333333333")
    assert manifest["assets"][0]["file"] == "invoker.zip"
    assert manifest["assets"][0]["needed_by"] == ["shop-runner"]
    assert manifest["assets"][0]["key"].startswith("runner/invoker-")
    assert (manifest["assets"][1]["file"], manifest["assets"][1]["key"]) == ("runners.json", None)


def test_cross_region_environment_gets_an_artifact_stack(syntheses) -> None:
    manifest = json.loads(syntheses["multi-account"].manifest)
    support = [s for s in manifest["stacks"] if s["kind"] == "artifacts"]
    assert [(s["name"], s["region"], s["account"]) for s in support] == [
        ("payments-artifacts-us-west-2", "us-west-2", "100000000001")
    ]
    pipeline = next(s for s in manifest["stacks"] if s["kind"] == "pipeline")
    assert "payments-artifacts-us-west-2" in pipeline["needs"]


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _synth_output(**templates: bytes) -> dict[str, bytes]:
    """Files as synth writes them: templates and a manifest listing them."""
    stacks = [{"file": f"{name}.json"} for name in templates]
    manifest = json.dumps({"stacks": stacks}).encode()
    return {**{f"{n}.json": b for n, b in templates.items()}, "manifest.json": manifest}


def test_write_replaces_the_directory_as_a_whole(tmp_path) -> None:
    out = tmp_path / "templates"
    write_atomically(out, _synth_output(a=b"1", b=b"2"))
    write_atomically(out, _synth_output(a=b"3"))
    assert _files(out) == _synth_output(a=b"3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def test_write_refuses_a_directory_holding_other_files(tmp_path) -> None:
    out = tmp_path / "src"
    out.mkdir()
    (out / "main.py").write_text("print('mine')")
    with pytest.raises(UnsafeOutputError, match=r"main\.py"):
        write_atomically(out, {"a.json": b"1"})
    assert _files(out) == {"main.py": b"print('mine')"}


def test_a_failed_write_leaves_the_previous_templates(tmp_path, monkeypatch) -> None:
    out = tmp_path / "templates"
    write_atomically(out, _synth_output(a=b"old"))

    def refuse(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(UnsafeOutputError, match=f"cannot write {out}: disk full"):
        write_atomically(out, _synth_output(a=b"new"))
    monkeypatch.undo()
    assert _files(out) == _synth_output(a=b"old")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def test_write_refuses_json_files_an_earlier_synth_did_not_write(tmp_path) -> None:
    out = tmp_path / "templates"
    write_atomically(out, synthesize(EXAMPLE).files)
    (out / "handwritten.json").write_text("{}")
    with pytest.raises(UnsafeOutputError, match=r"handwritten\.json"):
        write_atomically(out, synthesize(EXAMPLE).files)
    assert (out / "handwritten.json").read_text() == "{}"


def test_write_removes_what_an_interrupted_synth_left_beside_out(tmp_path) -> None:
    out = tmp_path / "templates"
    write_atomically(out, _synth_output(a=b"1"))
    staging = tmp_path / ".templates.new-99999-0"  # a synth killed while writing
    staging.mkdir()
    (staging / "a.json").write_bytes(b"half")
    retired = tmp_path / ".templates.old-99999-0"  # one killed between its two renames
    (retired / "templates").mkdir(parents=True)
    (retired / "templates" / "a.json").write_bytes(b"old")
    write_atomically(out, _synth_output(a=b"2"))
    assert _files(out) == _synth_output(a=b"2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def _write_many(out: str, tag: bytes, rounds: int) -> None:
    for _ in range(rounds):
        write_atomically(Path(out), _synth_output(a=tag, b=tag))


def test_concurrent_synths_into_one_out_leave_one_whole_output_and_nothing_else(
    tmp_path,
) -> None:
    out = tmp_path / "templates"
    context = multiprocessing.get_context("fork")
    writers = [
        context.Process(target=_write_many, args=(str(out), tag, 30)) for tag in (b"x", b"y")
    ]
    for writer in writers:
        writer.start()
    seen, appeared = set(), False
    while any(w.is_alive() for w in writers):  # a reader never finds out missing or mixed
        try:
            directory = os.open(out, os.O_RDONLY)
        except FileNotFoundError:
            assert not appeared, "out went missing between two outputs"
            continue  # before the first write
        appeared = True
        try:
            files = {}
            for name in os.listdir(directory):
                fd = os.open(name, os.O_RDONLY, dir_fd=directory)
                with os.fdopen(fd, "rb") as handle:
                    files[name] = handle.read()
        except FileNotFoundError:
            continue  # an output being removed after it was replaced
        finally:
            os.close(directory)
        seen.add(tuple(sorted(files.items())))
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    final = _files(out)
    assert final in (_synth_output(a=b"x", b=b"x"), _synth_output(a=b"y", b=b"y"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]
    mixed = [s for s in seen if len({v for _, v in s if v in (b"x", b"y")}) > 1]
    assert mixed == []


def test_a_file_system_error_is_one_line_naming_out_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = blocker / "templates"  # a path under a file
    with pytest.raises(UnsafeOutputError) as caught:
        write_atomically(out, {"manifest.json": b"{}"})
    assert str(caught.value) == f"cannot write {out}: {blocker} is not a directory"
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_the_cli_reports_a_file_system_error_with_exit_status_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipelines.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(main, ["synth", "--out", str(blocker / "templates")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: cannot write {blocker / 'templates'}: ")
    assert "Traceback" not in result.output
