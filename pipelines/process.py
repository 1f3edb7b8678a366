"""Runtime settings for when `pipelines` is the whole process, not a function someone calls.

The entry points (the console script and `python -m pipelines`) claim the process; the click
commands called from tests or other programs leave the caller's garbage collector alone.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_claimed = False


def claim() -> None:
    """Mark this interpreter as ours for its lifetime; only the entry points call this."""
    global _claimed
    _claimed = True


@contextmanager
def long_lived_imports() -> Iterator[None]:
    """Import with the cyclic garbage collector paused, then freeze what the imports made.

    Modules, classes, functions and pydantic's validators live until the process ends. Left
    alone, the collector walks those tens of thousands of objects again and again while they are
    imported, and once more at exit: about a fifth of `pipelines synth`'s wall time, for no
    garbage. Frozen objects are skipped by every later collection, so the work that follows is
    still collected, over its own objects only. What the imports left as garbage (a few hundred
    objects) is kept until exit.
    """
    if not _claimed or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
