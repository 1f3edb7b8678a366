"""Measure the IAM policy sizes of realistic apps against IAM's quotas, as IAM counts them.

    python bench/iam_quotas.py                  # 12, 50 and 100 services in 4 environments
    python bench/iam_quotas.py --services 12,24,200

Each app has a load balancer, alarms and a secret per service in every environment (the
configuration tests/conformance/test_scale.py synthesizes). For each size it prints the largest
inline policy total of one role, per kind of stack, the largest managed policy (the service
boundary), the largest trust policy, and the largest environment-account template as deploy
sends it. The quotas: 10,240 characters of inline policy per role, 6,144 per managed policy,
2,048 per trust policy, 51,200 bytes of template in a request. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.conformance.policy_text import iam_characters
from tests.conformance.support import stack_templates
from tests.conformance.test_scale import largest_policies, write_configuration


def measure(services: int, root: Path) -> dict[str, int]:
    templates = stack_templates(write_configuration(root / str(services), services))
    sizes = largest_policies(templates)
    sizes["trust policy"] = max(
        iam_characters(role["Properties"]["AssumeRolePolicyDocument"], stack)
        for stack in templates
        for _, role in stack.resources("AWS::IAM::Role")
    )
    sizes["environment template bytes"] = max(
        len(json.dumps(t.body, separators=(",", ":"), sort_keys=True).encode())
        for t in templates
        if t.account != t.toolchain_account
    )
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--services", default="12,50,100", help="comma-separated (default 12,50,100)"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.services.split(",")]
    with tempfile.TemporaryDirectory() as work:
        results = {n: measure(n, Path(work)) for n in counts}
    rows = sorted({k for r in results.values() for k in r})
    print(f"{'largest':32}" + "".join(f"{f'{n} x 4':>12}" for n in counts))
    for row in rows:
        print(f"{row:32}" + "".join(f"{results[n].get(row, 0):>12,}" for n in counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
