"""pydantic's plugin lookup, with importlib.metadata imported only when it looks.

pydantic builds every model through pydantic.plugin._loader, which imports
`entry_points` from importlib.metadata when it is first imported. importlib.metadata brings in
the email and zipfile packages, about 15 ms of `pipelines synth`, and the CLI turns plugins off
(PYDANTIC_DISABLE_PLUGINS), so that lookup never runs there. Here the loader is imported with
a stand-in `entry_points` that imports importlib.metadata on its first call: plugins still work
wherever they are enabled.
"""

from __future__ import annotations

import sys
import types
from typing import Any

_LOADER = "pydantic.plugin._loader"
_METADATA = "importlib.metadata"


def entry_points(**params: Any) -> Any:
    """importlib.metadata.entry_points, imported when called."""
    from importlib import metadata

    return metadata.entry_points(**params)


def import_loader_lazily() -> None:
    """Import pydantic's plugin loader before any model is built, without importlib.metadata."""
    if _LOADER in sys.modules or _METADATA in sys.modules:
        return  # nothing left to defer
    stand_in = types.ModuleType(_METADATA)
    stand_in.entry_points = entry_points  # type: ignore[attr-defined]
    sys.modules[_METADATA] = stand_in
    try:
        __import__(_LOADER)
    finally:
        # Only the loader sees the stand-in: anything imported later gets the real module.
        if sys.modules.get(_METADATA) is stand_in:
            del sys.modules[_METADATA]
