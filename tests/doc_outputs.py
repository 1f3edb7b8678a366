"""The command outputs the docs quote, produced from the example in environments/.

A page quotes an output as a fenced block right after a marker line:

    <!-- output: synth-summary -->
    ```
    ...
    ```

`python -m tests.regenerate` rewrites every such block from a fresh run (`write_all`), and
tests/test_doc_outputs.py fails when a committed block differs (`blocks` and `produce`).
What varies from run to run is normalised: durations, image digests, execution IDs and
temporary paths, so a block changes only when the output really does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from tests.support import ROOT

PAGES = ("README.md", "CONTRIBUTING.md", "docs/*.md")
MARKER = re.compile(r"^<!-- output: ([a-z0-9-]+) -->\n```[a-z]*\n(.*?)^```$", re.M | re.S)


class Block(NamedTuple):
    page: Path
    name: str
    text: str


def pages(root: Path = ROOT) -> list[Path]:
    found: list[Path] = []
    for pattern in PAGES:
        found.extend(sorted(root.glob(pattern)))
    return found


def blocks(root: Path = ROOT) -> Iterator[Block]:
    """Every quoted output of every page, as committed."""
    for page in pages(root):
        for match in MARKER.finditer(page.read_text(encoding="utf-8")):
            yield Block(page, match.group(1), match.group(2))


def normalise(text: str, workdir: Path | None = None, ids: Iterable[str] = ()) -> str:
    """Durations, digests, UUIDs and the scratch directory, which change on every run.

    `ids` are UUIDs the commands printed in full somewhere, maybe not in `text`: where `text`
    shows one by its first 8 digits only (an execution in `pipelines status`), those become the
    stand-in's first 8 digits too.
    """
    if workdir is not None:
        text = text.replace(f"{workdir}/", "")
    digests: dict[str, str] = {}

    def digest(match: re.Match[str]) -> str:
        full = match.group(1)
        if full not in digests:
            digests[full] = "0123456789abcdef"[len(digests) % 16] * 64
        return "sha256:" + digests[full]

    text = re.sub(r"sha256:([0-9a-f]{64})", digest, text)
    for full, stand_in in digests.items():  # the same digests, shortened to 12 digits
        text = text.replace(f"sha256:{full[:12]}", f"sha256:{stand_in[:12]}")
    text = _number_ids(text, ids)
    text = re.sub(r"\b\d+(?:\.\d+)? s\b", "N s", text)  # synth and check: "in 0.97 s"
    text = re.sub(r"\[\s*\d+\.\d+s\]", "[  N.Ns]", text)  # the rehearsal's clock
    text = re.sub(r"\b\d+\.\d+s\b", "N.Ns", text)
    return text


UUID_OR_PREFIX = re.compile(
    r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?\b"
)


def _number_ids(text: str, ids: Iterable[str]) -> str:
    """Each UUID becomes a stand-in numbered in order of appearance, the same one every time."""
    by_prefix = {full[:8]: full for full in ids}
    stand_ins: dict[str, str] = {}

    def stand_in(full: str) -> str:
        if full not in stand_ins:
            n = len(stand_ins)
            stand_ins[full] = f"{n:08x}-0000-4000-8000-{n:012x}"
        return stand_ins[full]

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if len(token) > 8:
            return stand_in(token)
        full = by_prefix.get(token)
        return stand_in(full)[:8] if full else token

    return UUID_OR_PREFIX.sub(replace, text)


def _example(workdir: Path) -> Path:
    shutil.copytree(ROOT / "environments", workdir / "environments")
    return workdir


def _pipelines(workdir: Path, *args: str) -> str:
    """`pipelines ARGS` in workdir, its stdout and stderr as a user sees them, normalised."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return normalise(result.stdout + result.stderr, workdir)


def synth_summary(workdir: Path) -> str:
    return "$ pipelines synth\n" + _pipelines(_example(workdir), "synth")


# One mistake at a time, in a copy of the example: (file, text replaced, replacement).
MISTAKES: dict[str, list[tuple[str, str, str]]] = {
    "synth-error-account": [
        ("pipeline.yaml", 'account: "111111111111"', "account: 111111111111"),
        ("pipeline.yaml", "memory: 512\n    health_check", "memory: 4096\n    health_check"),
    ],
    "synth-error-typo": [("prod.yaml", "desired_count: 3", "desired_cont: 3")],
    "synth-error-secret": [
        ("prod.yaml", "333333333333:secret:shop/db", "444444444444:secret:shop/db"),
    ],
    "synth-error-promotion": [
        (
            "pipeline.yaml",
            "promotion: [dev, staging, prod]",
            "promotion: [dev, staging, production]",
        )
    ],
}


def _synth_error(name: str) -> Callable[[Path], str]:
    def produce(workdir: Path) -> str:
        example = _example(workdir) / "environments"
        for file, old, new in MISTAKES[name]:
            path = example / file
            text = path.read_text(encoding="utf-8")
            if old not in text:
                raise AssertionError(f"{name}: {old!r} is no longer in environments/{file}")
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return "$ pipelines synth\n" + _pipelines(workdir, "synth")

    return produce


def deploy_waves(workdir: Path) -> str:
    """The manifest's deploy order, as the jq line in docs/operating.md prints it."""
    _pipelines(_example(workdir), "synth", "-q")
    manifest = json.loads((workdir / "templates" / "manifest.json").read_text(encoding="utf-8"))
    return "".join(
        f"wave {index}: {' '.join(wave)}\n" for index, wave in enumerate(manifest["deploy_order"])
    )


def resource_types(workdir: Path) -> str:
    """How many resources of each type the example's templates hold, most first."""
    _pipelines(_example(workdir), "synth", "-q")
    manifest = json.loads((workdir / "templates" / "manifest.json").read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    for stack in manifest["stacks"]:
        template = json.loads((workdir / "templates" / stack["file"]).read_text(encoding="utf-8"))
        for resource in template["Resources"].values():
            counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    width = max(len(name) for name in counts)
    return "".join(f"{name:<{width}}  {count}\n" for name, count in ordered)


def synth_cost(workdir: Path) -> str:
    return "$ pipelines synth --quiet --cost\n" + _pipelines(
        _example(workdir), "synth", "--quiet", "--cost"
    )


def check(workdir: Path) -> str:
    _pipelines(_example(workdir), "synth", "-q")
    return "$ pipelines check\n" + _pipelines(workdir, "check")


def rehearsal(workdir: Path) -> str:
    """The end of `pipelines rehearse --approve all`: what is live, and the verdict."""
    full = _pipelines(_example(workdir), "rehearse", "--approve", "all")
    start = full.index("live now")
    return "$ pipelines rehearse --approve all\n...\n" + full[start:]


class Output(NamedTuple):
    produce: Callable[[Path], str]
    slow: bool  # needs cfn-lint or a rehearsal on moto: run with the slow tests
    session: bool = False  # a block of the one sandbox session of tests/doc_sessions.py


def _session_block(name: str) -> Output:
    def produce(workdir: Path) -> str:
        from tests.doc_sessions import transcript

        return transcript()[name]

    return Output(produce, slow=True, session=True)


SESSION_BLOCKS = (
    "sandbox-exports",
    "sandbox-release",
    "sandbox-canary",
    "sandbox-release-again",
    "sandbox-run",
    "prune",
    "destroy-env",
    "destroy-app",
)


OUTPUTS: dict[str, Output] = {
    "synth-summary": Output(synth_summary, slow=False),
    **{name: Output(_synth_error(name), slow=False) for name in MISTAKES},
    "deploy-waves": Output(deploy_waves, slow=False),
    "synth-cost": Output(synth_cost, slow=False),
    "resource-types": Output(resource_types, slow=False),
    "check": Output(check, slow=True),
    "rehearsal": Output(rehearsal, slow=True),
    **{name: _session_block(name) for name in SESSION_BLOCKS},
}


def produce(name: str) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        text = OUTPUTS[name].produce(Path(scratch))
    return text if text.endswith("\n") else text + "\n"


def write_all(root: Path = ROOT) -> list[str]:
    """Rewrite every quoted output of every page; the names of the outputs written."""
    fresh: dict[str, str] = {}
    written: list[str] = []
    for page in pages(root):
        text = page.read_text(encoding="utf-8")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in fresh:
                fresh[name] = produce(name)
            head = match.group(0)[: match.start(2) - match.start(0)]
            return f"{head}{fresh[name]}```"

        new = MARKER.sub(replace, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
        written.extend(f"{page.relative_to(root)}: {m.group(1)}" for m in MARKER.finditer(text))
    return written
