"""Model -> troposphere Template, one function per stack kind."""

import importlib.util
import sys


def _import_lazily(name: str) -> None:
    """Register `name` so that it is executed on first attribute access, not on import."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


# troposphere imports cfn_flip at import time, only for Template.to_yaml, which synth never
# calls: deferring it saves about a tenth of `pipelines synth`'s start-up.
_import_lazily("cfn_flip")
