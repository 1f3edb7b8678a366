"""Run the suite's structure-aware fuzzer of the example configuration for many more examples.

    python bench/fuzz.py                 # 3,000 mutations
    python bench/fuzz.py --examples 10000 --seed 7

It runs tests/config/test_properties.py's property (structural edits of the parsed YAML, then
raw edits of the text and bytes, then `synthesize`), whose only allowed outcomes are clean
templates or a ConfigError/LimitError naming files that exist and lines within them, and prints
how often each outcome occurred. Any other exception fails the run with the mutations that made
it (hypothesis shrinks them). Not part of the test suite, which runs the property 300 times.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.config import test_properties


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    outcomes: Counter[str] = Counter()
    inner = test_properties.test_any_mutation_synthesizes_or_reports_problems_in_the_files
    original_event = test_properties.event
    test_properties.event = lambda value: outcomes.update([str(value)])  # type: ignore[assignment]
    run = settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )(given(st.data())(inner.hypothesis.inner_test))
    started = time.perf_counter()
    try:
        from hypothesis import seed

        seed(args.seed)(run)()
    finally:
        test_properties.event = original_event
    seconds = time.perf_counter() - started
    total = sum(outcomes.values())
    print(f"{total} mutated configurations in {seconds:.0f} s, no other outcome:")
    for outcome, count in outcomes.most_common():
        print(f"  {outcome:14} {count:6}  {100 * count / total:5.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
