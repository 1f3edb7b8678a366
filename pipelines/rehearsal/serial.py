"""moto handles one request at a time, whatever thread sends it.

`pipelines deploy` executes the stacks of a wave from threads, as it should against AWS. moto's
backends are plain dicts that every thread shares, and moto is not safe for that: for each request
made with assumed-role credentials it walks the account's IAM roles to record the caller, so a
thread listing roles while another thread's stack creates one fails with "dictionary changed size
during iteration". A lock around moto's handling of each request keeps deploy's threads, its
waves and its event interleaving as they are against AWS, while moto sees one request at a time.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def one_request_at_a_time() -> Iterator[None]:
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    # Reentrant: a request moto handles may lead it to make another in the same thread.
    lock = threading.RLock()

    @functools.wraps(original)
    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]
