"""Libraries imported without the parts synth never runs.

Most of `pipelines synth`'s time is imports, and three libraries import, while they are being
imported, modules that synth never uses. Two ways around that, each keeping the library whole:

- `import_deferred(name)`: `import name` binds a module whose code runs when something first
  asks it for an attribute. For a module a library only imports at the top.
- `import_with_stand_in(name, submodule, **attributes)`: while `name` is imported, a stand-in
  holding `attributes` answers for `submodule`; any later import of `submodule` gets the real
  module. For a module a library takes a few names from while it is imported.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _Deferred(types.ModuleType):
    """A module that runs its code when first asked for an attribute it does not have yet.

    Not importlib.util.LazyLoader: its modules load on any attribute access, and `import name`
    reads `__spec__` of a module already in sys.modules (to see whether it is still being
    initialised), so the import it should defer loads it after all.
    """

    def __getattr__(self, name: str) -> Any:
        # __name__, __spec__, __path__ and the like are set already and never get here.
        self.__class__ = types.ModuleType
        spec = self.__spec__
        assert spec is not None and spec.loader is not None
        try:
            spec.loader.exec_module(self)
        except BaseException:
            sys.modules.pop(spec.name, None)  # as a failed import leaves it: the next one retries
            raise
        return getattr(self, name)


def import_deferred(name: str) -> None:
    """Register `name` so that `import name` binds it without running it."""
    import importlib.util

    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[name] = module


def import_with_stand_in(name: str, submodule: str, **attributes: Any) -> None:
    """Import `name` while a module holding only `attributes` stands in for `submodule`.

    Should the library come to need more of `submodule` than the stand-in holds, it is
    imported again without the stand-in: slower, never broken.
    """
    if name in sys.modules or submodule in sys.modules:
        return  # already imported, or nothing left to leave out
    stand_in = types.ModuleType(submodule)
    stand_in.__dict__.update(attributes)
    before = set(sys.modules)
    sys.modules[submodule] = stand_in
    try:
        __import__(name)
    except ImportError:
        # Forget everything the failed import loaded, some of which may hold the stand-in's
        # names, and import it all again for real.
        for loaded in set(sys.modules) - before:
            del sys.modules[loaded]
        __import__(name)
    finally:
        # Only `name` sees the stand-in: anything imported later gets the real module.
        if sys.modules.get(submodule) is stand_in:
            del sys.modules[submodule]
