import gc
import subprocess
import sys

from click.testing import CliRunner

from pipelines.cli import main
from tests.support import EXAMPLE, ROOT


def test_synth_writes_templates_and_prints_a_summary(tmp_path) -> None:
    out = tmp_path / "templates"
    result = CliRunner().invoke(main, ["synth", "--environments", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").is_file()
    assert (out / "shop-prod-web.json").is_file()
    assert "shop-pipeline" in result.output
    assert "11 stacks" in result.output


def test_python_dash_m_runs_the_cli(tmp_path) -> None:
    out = tmp_path / "t"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "synth",
            "-q",
            "--environments",
            str(EXAMPLE),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    # 11 templates, the manifest, and the runner's allow-list and invoker package
    assert len(list(out.iterdir())) == 14


def _synth_in_a_new_interpreter_then(tmp_path, checks: str) -> str:
    """Synth of the example in a fresh Python, then `checks` in it; returns what they print."""
    code = (
        "import sys, pipelines.cli as c\n"
        "from click.testing import CliRunner\n"
        f"r = CliRunner().invoke(c.main, ['synth', '-q', '--environments', {str(EXAMPLE)!r}, "
        f"'--out', {str(tmp_path / 'o')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
    ) + checks
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_synth_path_imports_neither_boto3_nor_moto(tmp_path) -> None:
    printed = _synth_in_a_new_interpreter_then(
        tmp_path,
        "roots = ('boto3', 'botocore', 'moto')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "print(','.join(loaded))\n",
    )
    assert printed.strip() == ""


def test_synth_called_in_process_leaves_the_garbage_collector_alone(tmp_path) -> None:
    frozen = gc.get_freeze_count()
    args = ["synth", "-q", "--environments", str(EXAMPLE), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_a_claimed_process_runs_a_batch_without_collecting_then_freezes_it() -> None:
    code = (
        "import gc\n"
        "from pipelines import process\n"
        "process.claim()\n"
        "with process.batch():\n"
        "    assert not gc.isenabled()\n"
        "    import pipelines.config.models\n"
        "assert gc.isenabled() and gc.get_freeze_count() > 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_entry_point_imports_the_cli_without_collecting_then_freezes_it() -> None:
    code = (
        "import gc, sys\n"
        "def importing_the_cli():\n"
        "    cli = sys.modules.get('pipelines.cli')\n"
        "    return cli is not None and getattr(cli.__spec__, '_initializing', False)\n"
        "collected_while_importing_the_cli = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and "
        "collected_while_importing_the_cli.append(importing_the_cli()))\n"
        "from pipelines.__main__ import entry\n"
        "sys.argv = ['pipelines', '--version']\n"
        "try:\n"
        "    entry()\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'click' in sys.modules and not any(collected_while_importing_the_cli)\n"
        "assert gc.isenabled() and gc.get_freeze_count() > 10_000, gc.get_freeze_count()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_synth_imports_every_library_whole(tmp_path) -> None:
    # No stand-in or deferred module: each is a plain module, cfn_flip has run (troposphere
    # imports it), and troposphere's Template names the real troposphere.serverless.Globals.
    printed = _synth_in_a_new_interpreter_then(
        tmp_path,
        "import types, troposphere\n"
        "modules = [n for n, m in sys.modules.items() if isinstance(m, types.ModuleType)]\n"
        "print(','.join(n for n in modules if type(sys.modules[n]) is not types.ModuleType))\n"
        "assert 'to_yaml' in vars(sys.modules['cfn_flip'])\n"
        "serverless = sys.modules['troposphere.serverless']\n"
        "assert troposphere.Template.props['Globals'][0] is serverless.Globals\n"
        "assert troposphere.Template().to_yaml().strip() == 'Resources: {}'\n",
    )
    assert printed.strip() == ""


def test_sandbox_minute_defaults_to_the_rehearsals_scale() -> None:
    # cli.py writes the default out rather than import the local engine on every command.
    from pipelines.cli import sandbox
    from pipelines.local.rollout import Timing

    [minute] = [p for p in sandbox.params if p.name == "minute_seconds"]
    assert minute.default == Timing.bake_seconds_per_minute
