"""`python -m pipelines` and the `pipelines` console script."""

from __future__ import annotations

import gc

from pipelines import process


def entry() -> None:
    """The `pipelines` process: the console script and `python -m pipelines`."""
    process.claim()
    # Importing the CLI (click, then pydantic and troposphere for most commands) creates objects
    # that live as long as the process; the collector would walk them over and over for no
    # garbage, about 2 ms of a 160 ms synth. Once imported, they are frozen out of its way.
    gc.disable()
    from pipelines.cli import main

    gc.freeze()
    gc.enable()
    main()


if __name__ == "__main__":
    entry()
