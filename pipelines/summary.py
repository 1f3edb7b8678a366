"""What synth prints: one line per stack and a total."""

from __future__ import annotations

from pathlib import Path

from pipelines.limits import needs_upload
from pipelines.render import Synthesis


def synth_summary(synthesis: Synthesis, out: Path, seconds: float) -> str:
    rows = [("stack", "account", "region", "resources", "bytes")]
    for o in synthesis.outputs:
        upload = " (via S3)" if needs_upload(len(o.body)) else ""
        rows.append(
            (
                o.stack.name,
                o.stack.account,
                o.stack.region,
                str(o.resources),
                f"{len(o.body):,}{upload}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    total_resources = sum(o.resources for o in synthesis.outputs)
    total_bytes = sum(len(b) for b in synthesis.files.values())
    lines.append(
        f"{len(synthesis.outputs)} stacks, {total_resources} resources, {total_bytes:,} bytes "
        f"written to {out}/ in {seconds:.2f} s"
    )
    return "\n".join(lines)
