"""pydantic's plugin lookup, with importlib.metadata imported only when it looks.

pydantic builds every model through pydantic.plugin._loader, which imports
`entry_points` from importlib.metadata when it is first imported. importlib.metadata brings in
the email and zipfile packages, about 15 ms of `pipelines synth`, and the CLI turns plugins off
(PYDANTIC_DISABLE_PLUGINS), so that lookup never runs there. Here the loader is imported with
a stand-in `entry_points` that imports importlib.metadata on its first call: plugins still work
wherever they are enabled.
"""

from __future__ import annotations

from typing import Any

from pipelines.imports import import_with_stand_in

_LOADER = "pydantic.plugin._loader"
_METADATA = "importlib.metadata"


def entry_points(**params: Any) -> Any:
    """importlib.metadata.entry_points, imported when called."""
    from importlib import metadata

    return metadata.entry_points(**params)


def import_loader_lazily() -> None:
    """Import pydantic's plugin loader before any model is built, without importlib.metadata."""
    import_with_stand_in(_LOADER, _METADATA, entry_points=entry_points)
