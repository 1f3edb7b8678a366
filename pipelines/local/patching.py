"""The one way this package swaps another module's attribute for a while.

The embedded AWS changes a few of moto's internals, never its API (embedded.py, changesets.py,
serial.py say which and why). moto's classes and functions are typed, and its internals are not
meant to be assigned to, so the swap is done here, on `object`: what is swapped in is typed where
it is written, and what moto hands it is `Any`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def stored(owner: object, name: str) -> Any:
    """What `owner` itself holds under `name`, as stored: a classmethod object rather than its
    binding to the class."""
    return vars(owner)[name]


@contextlib.contextmanager
def patched(owner: object, name: str, value: object) -> Iterator[None]:
    """`owner.name` is `value` for the duration; afterwards what `owner` itself held under that
    name (its classmethod object, not a binding), or nothing if it inherited it."""
    own = vars(owner)
    had = name in own
    original = own.get(name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if had:
            setattr(owner, name, original)
        else:
            delattr(owner, name)
