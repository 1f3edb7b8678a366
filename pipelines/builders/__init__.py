"""Model -> troposphere Template, one function per stack kind."""

import importlib.util
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


def _import_deferred(name: str) -> None:
    """Register `name` so that `import name` binds it without running it."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[name] = module


# troposphere imports cfn_flip at import time, only for Template.to_yaml, which synth never
# calls: cfn_flip brings in logging and three packages of its own.
_import_deferred("cfn_flip")
