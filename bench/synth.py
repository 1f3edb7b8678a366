"""Time `pipelines synth` as a whole process on generated apps, optionally against AWS CDK.

    python bench/synth.py                      # 1x3, 10x3, 50x6, 100x6 (services x environments)
    python bench/synth.py --sizes 1x3,100x6 --runs 11
    python bench/synth.py --vs-cdk             # also `cdk synth` of bench/cdk, and the ratio

Each size is written as real YAML (pipeline.yaml and one file per environment) into a temporary
directory, and `python -m pipelines synth --quiet` runs once per size to warm the caches. Then
come `--runs` rounds, each running every case once, into the same --out, the way a user
re-synthesizes; interleaving spreads any change in the machine's load over all cases. Reported
per case: median, min and max wall time, median CPU time, the peak RSS of the child process
(from `wait4`, so one case's peak never leaks into the next) and the stacks and bytes written. A
case that fails (such as a stage over CodePipeline's 50 actions) is reported with its exit
status and first error line, the others still run, and the exit status is 1. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CDK_DIR = Path(__file__).resolve().parent / "cdk"
DEFAULT_SIZES = "1x3,10x3,50x6,100x6"
CDK_LABEL = "cdk synth (bench/cdk)"

APP = "bench"
TOOLCHAIN_ACCOUNT = "111111111111"
HOME_REGION = "eu-west-1"
OTHER_REGION = "eu-central-1"
ACCOUNTS = ("222222222222", "333333333333", "444444444444")
# Stage order of a typical promotion; sizes take "dev", a prefix of the middle ones, and "prod".
MIDDLE_ENVIRONMENTS = ("staging", "qa", "uat", "perf")
STAGE_ORDER = ("dev", "qa", "uat", "perf", "staging", "prod")
# Valid Fargate (cpu, memory) pairs, cycled through so task definitions differ.
FARGATE_SIZES = ((256, 512), (512, 1024), (1024, 2048), (256, 1024), (2048, 4096))

TABLE_HEADER = (
    "case", "stacks", "bytes", "largest", "median s", "min s", "max s", "spread", "cpu s", "peak MB"
)  # fmt: skip

# ru_maxrss is in KiB on Linux and in bytes on macOS.
RSS_UNIT = 1 if sys.platform == "darwin" else 1024

CDK_ENV = {
    "CDK_DISABLE_VERSION_CHECK": "1",  # no registry call for a newer CLI
    "CDK_DISABLE_CLI_TELEMETRY": "true",  # no telemetry upload at exit
    "AWS_EC2_METADATA_DISABLED": "true",  # without credentials, do not wait on IMDS
}


@dataclass(frozen=True)
class Size:
    services: int
    environments: int

    @property
    def label(self) -> str:
        return f"{self.services}x{self.environments}"


@dataclass
class Result:
    """The runs of one command, or why it failed."""

    label: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)
    stacks: int | None = None
    total_bytes: int | None = None
    largest: int | None = None
    failure: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float
    rss_bytes: int
    status: int
    stderr: str


# Configuration ---------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[Size]:
    sizes = []
    for part in text.split(","):
        services, _, environments = part.strip().lower().partition("x")
        if not (services.isdigit() and environments.isdigit()):
            raise argparse.ArgumentTypeError(f"{part!r} is not SxE, e.g. 10x3")
        if int(services) < 1 or int(environments) < 1:
            raise argparse.ArgumentTypeError(f"{part!r}: need at least 1 service and 1 environment")
        sizes.append(Size(int(services), int(environments)))
    return sizes


def environment_names(count: int) -> list[str]:
    if count == 1:
        return ["dev"]
    if count <= len(MIDDLE_ENVIRONMENTS) + 2:
        chosen = {"dev", "prod", *MIDDLE_ENVIRONMENTS[: count - 2]}
        return [name for name in STAGE_ORDER if name in chosen]
    return ["dev", *(f"env{i}" for i in range(2, count)), "prod"]


def service_names(count: int) -> list[str]:
    return [f"svc{i:03d}" for i in range(1, count + 1)]


def placement(index: int, count: int) -> tuple[str, str]:
    """(account, region) of environment `index` of `count`.

    Up to three environments share two accounts (like the example); more spread over three, and
    the last account's environments run in a second region, so the toolchain also gets a
    regional artifacts stack.
    """
    accounts = 2 if count <= 3 else 3
    slot = index * accounts // count
    region = OTHER_REGION if count > 3 and slot == 2 else HOME_REGION
    return ACCOUNTS[slot], region


def pipeline_document(size: Size) -> dict[str, Any]:
    services = {}
    for number, name in enumerate(service_names(size.services)):
        cpu, memory = FARGATE_SIZES[number % len(FARGATE_SIZES)]
        services[name] = {
            "port": 8080,
            "cpu": cpu,
            "memory": memory,
            "health_check": {"path": "/healthz"},
            "environment": {"LOG_LEVEL": "info", "SERVICE": name},
            # A unique path lets every service share its environment's load balancer host.
            "path": f"/{name}/*",
        }
    return {
        "app": APP,
        "toolchain": {"account": TOOLCHAIN_ACCOUNT, "region": HOME_REGION},
        "image": {"repository": f"{APP}/app", "release_tag": "release", "keep_images": 50},
        "promotion": environment_names(size.environments),
        "services": services,
        "notifications": {"approvals": ["release-team@example.com"]},
    }


def environment_document(size: Size, index: int, name: str) -> dict[str, Any]:
    account, region = placement(index, size.environments)
    slot = ACCOUNTS.index(account)
    last = index == size.environments - 1
    document: dict[str, Any] = {
        "account": account,
        "region": region,
        "network": {
            "vpc": f"vpc-{slot + 1:017x}",
            "subnets": [f"subnet-{slot + 1:08x}{n:09x}" for n in range(1, 4)],
        },
        "load_balancer": {
            "listener_arn": (
                f"arn:aws:elasticloadbalancing:{region}:{account}:listener/app/"
                f"{APP}-{name}/0123456789abcdef/0123456789abcdef"
            ),
            "host": f"{name}.{APP}.example.com",
            "priority": 100,
            "security_group": f"sg-{index + 1:017x}",
        },
    }
    if last:
        document["alarms"] = [f"{APP}-{name}-5xx"]
    settings = {}
    for service in service_names(size.services):
        entry: dict[str, Any] = {"desired_count": 3 if last else 1}
        if last:
            entry["secrets"] = {
                "DB_PASSWORD": f"arn:aws:secretsmanager:{region}:{account}:secret:{APP}/{service}"
            }
        settings[service] = entry
    document["services"] = settings
    return document


def write_configuration(directory: Path, size: Size) -> Path:
    """Write `size` as an environments/ directory and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    _dump(directory / "pipeline.yaml", pipeline_document(size))
    for index, name in enumerate(environment_names(size.environments)):
        _dump(directory / f"{name}.yaml", environment_document(size, index, name))
    return directory


def _dump(path: Path, document: dict[str, Any]) -> None:
    # safe_dump quotes "222222222222", so accounts stay strings as the contract requires.
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=200), encoding="utf-8")


# Running ---------------------------------------------------------------------------------------


def run_once(command: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run `command` to completion: wall and CPU seconds and the peak RSS of that child alone.

    os.wait4 gives this child's own usage; RUSAGE_CHILDREN would keep the highest peak of every
    earlier child too, so a large size would mask the peaks of the smaller ones after it.
    """
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        text = stderr.read().decode(errors="replace")
    return Run(
        seconds,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss * RSS_UNIT,
        process.returncode,
        text,
    )


@dataclass(frozen=True)
class Case:
    """One command to time, and how to read the size of what it wrote."""

    label: str
    command: list[str]
    cwd: Path
    env: dict[str, str] | None
    describe_output: Callable[[Result], None]


def measure(cases: list[Case], runs: int) -> list[Result]:
    """One untimed warm-up run of each case (bytecode, page cache), then `runs` timed rounds.

    Each round runs every case once, so a change in the machine's load during the bench (other
    work on a 2-core machine) reaches all cases alike instead of skewing one case or the ratio.
    """
    results = [Result(case.label) for case in cases]
    for case, result in zip(cases, results, strict=True):
        _progress(f"warm-up {case.label}")
        warm = run_once(case.command, case.cwd, case.env)
        if warm.status != 0:
            result.failure = f"exit {warm.status}: {first_error_line(warm.stderr)}"
    for round_number in range(1, runs + 1):
        _progress(f"round {round_number}/{runs}")
        for case, result in zip(cases, results, strict=True):
            if result.failure is None:
                _record(result, run_once(case.command, case.cwd, case.env))
    for case, result in zip(cases, results, strict=True):
        if result.failure is None:
            case.describe_output(result)
    return results


def _record(result: Result, run: Run) -> None:
    if run.status != 0:
        result.failure = f"exit {run.status} on a timed run: {first_error_line(run.stderr)}"
        return
    result.seconds.append(run.seconds)
    result.cpu.append(run.cpu)
    result.rss_bytes.append(run.rss_bytes)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def first_error_line(stderr: str) -> str:
    """The line that says what went wrong: synth's `error: ...`, else a line naming an error.

    Node prints the offending source line first (for aws-cdk-lib, one line of minified code),
    so the first line alone is often useless; long lines are cut.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    named = [line for line in lines if "error" in line.lower() and len(line) < 500]
    chosen = (errors or named or lines or ["(no output on stderr)"])[0]
    if len(chosen) > 300:
        chosen = chosen[:300] + "..."
    more = len(errors) - 1
    return chosen + (f" (+{more} more error lines)" if more > 0 else "")


def synth_command(environments: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipelines",
        "synth",
        # The long flag, as cdk is given: with `-q` click first tries it as a long option and
        # builds a "did you mean" list for the error it then discards (difflib, about 2 ms).
        "--quiet",
        "--environments",
        str(environments),
        "--out",
        str(out),
    ]


def synth_case(label: str, environments: Path, out: Path) -> Case:
    return Case(
        label,
        synth_command(environments, out),
        ROOT,
        None,
        lambda result: describe_synth_output(result, out),
    )


def describe_synth_output(result: Result, out: Path) -> None:
    manifest = json.loads((out / "manifest.json").read_bytes())
    sizes = [(out / s["file"]).stat().st_size for s in manifest["stacks"]]
    result.stacks = len(sizes)
    result.total_bytes = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    result.largest = max(sizes)


# AWS CDK -----------------------------------------------------------------------------------------


class CdkUnavailable(Exception):
    pass


def install_cdk() -> Path:
    """`npm install` the pinned CDK app; the path of its `cdk` CLI."""
    npm = shutil.which("npm")
    if npm is None:
        raise CdkUnavailable("npm is not on PATH; install Node.js 20 or newer and npm")
    process = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=CDK_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if process.returncode != 0:
        tail = "\n".join((process.stderr or process.stdout).strip().splitlines()[-15:])
        raise CdkUnavailable(f"npm install in {CDK_DIR} failed ({process.returncode}):\n{tail}")
    cli = CDK_DIR / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        raise CdkUnavailable(f"npm install succeeded but {cli} is missing")
    return cli


def cdk_case(cli: Path, out: Path) -> Case:
    # The local CLI, not `npx cdk`: npx's own start-up is npm's cost, not CDK's, and leaving it
    # out only makes the ratio kinder to CDK.
    command = [str(cli), "synth", "--no-notices", "--quiet", "--output", str(out)]
    env = {**os.environ, **CDK_ENV}
    return Case(CDK_LABEL, command, CDK_DIR, env, lambda result: describe_cdk_output(result, out))


def describe_cdk_output(result: Result, out: Path) -> None:
    templates = list(out.glob("*.template.json"))
    result.stacks = len(templates)
    result.total_bytes = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    result.largest = max(p.stat().st_size for p in templates)


# Report ------------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    header = TABLE_HEADER
    rows = [header]
    notes = []
    for r in results:
        if r.failure is not None:
            rows.append((r.label, *(["-"] * (len(header) - 1))))
            notes.append(f"{r.label}: FAILED {r.failure}")
            continue
        rows.append(
            (
                r.label,
                str(r.stacks),
                f"{r.total_bytes:,}",
                f"{r.largest:,}",
                f"{r.median:.3f}",
                f"{min(r.seconds):.3f}",
                f"{max(r.seconds):.3f}",
                f"{(max(r.seconds) - min(r.seconds)) / r.median:.0%}",
                f"{statistics.median(r.cpu):.3f}",
                f"{max(r.rss_bytes) / 2**20:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join([*lines, *notes])


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} cores, "
        f"load average {load}"
    )


# Main --------------------------------------------------------------------------------------------


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes(DEFAULT_SIZES),
        help=f"comma-separated SERVICESxENVIRONMENTS (default {DEFAULT_SIZES})",
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (default 7)")
    parser.add_argument(
        "--vs-cdk",
        action="store_true",
        help="also time `cdk synth` of bench/cdk (the 1x3 example in AWS CDK) and print the ratio",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="write the configurations and outputs into DIR and keep them (default: a temp dir)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    cli = None
    if args.vs_cdk:
        try:
            cli = install_cdk()  # before any timing, so a broken install fails fast
        except CdkUnavailable as error:
            print(f"--vs-cdk: {error}", file=sys.stderr)
            return 1
    print(machine())
    compile_bytecode()
    print(
        f"{args.runs} timed rounds after one warm-up run of each case, every round running each "
        "case once; times are whole processes\n"
    )
    work = args.keep or Path(tempfile.mkdtemp(prefix="pipelines-bench-"))
    try:
        results = run_cases(args, work, cli)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    if cli is not None:
        print(ratio_lines(results))
    # Every case ran and is in the table; the status still tells a script that one failed.
    return 1 if any(r.failure is not None for r in results) else 0


def compile_bytecode() -> None:
    """Compile pipelines/ to bytecode, as pip does when it installs the package.

    The dependencies in the virtual environment were compiled when pip installed them. This
    checkout is installed in editable mode, and where PYTHONDONTWRITEBYTECODE is set (as in
    many containers) the warm-up run cannot write its bytecode, so every timed run would compile
    all of pipelines' modules again: about 30 ms, which no installed copy spends.
    """
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "pipelines")],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    print("pipelines/ compiled to bytecode first, as an installed package is")


def run_cases(args: argparse.Namespace, work: Path, cli: Path | None) -> list[Result]:
    cases = []
    for size in args.sizes:
        environments = write_configuration(work / size.label / "environments", size)
        cases.append(synth_case(size.label, environments, work / size.label / "out"))
    if cli is not None:
        # The CDK app mirrors the committed example, so time that too for a like-for-like ratio.
        cases.append(synth_case("example", ROOT / "environments", work / "example-out"))
        cases.append(cdk_case(cli, work / "cdk.out"))
    return measure(cases, args.runs)


def ratio_lines(results: list[Result]) -> str:
    cdk = results[-1]
    if cdk.failure is not None:
        return "cdk synth failed, so there is no ratio"
    lines = []
    for ours in results[:-1]:
        if ours.label in ("example", "1x3") and ours.failure is None:
            lines.append(
                f"cdk synth median / pipelines synth median ({ours.label}): "
                f"{cdk.median:.3f} / {ours.median:.3f} = {cdk.median / ours.median:.1f}x"
            )
    return "\n".join(lines) or "no successful 1x3 or example run to compare with"


if __name__ == "__main__":
    sys.exit(main())
