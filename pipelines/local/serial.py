"""moto handles one request at a time, whatever thread sends it.

`pipelines deploy` executes the stacks of a wave from threads, as it should against AWS. moto's
backends are plain dicts that every thread shares, and moto is not safe for that: for each request
made with assumed-role credentials it walks the account's IAM roles to record the caller, so a
thread listing roles while another thread's stack creates one fails with "dictionary changed size
during iteration". A lock around moto's handling of each request keeps deploy's threads, its
waves and its event interleaving as they are against AWS, while moto sees one request at a time.

Both ways into moto in this process are locked: its botocore hook (`mock_aws`) and the WSGI
application of a moto server started here (ThreadedMotoServer). A moto server in another
process is out of reach of the lock: it serves each request in a thread of its own, and the
race surfaces as an HTTP 500. That side is handled by the client: every client the tool makes
retries transient server errors with backoff (aws/session.py's CLIENT_CONFIG, which
clients.session_client applies to the embedded AWS's clients too), so a request that met the
race is sent again. Tested against a moto server in a subprocess (tests/local/test_serial.py).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from pipelines.local.patching import patched, stored


@contextlib.contextmanager
def one_request_at_a_time() -> Iterator[None]:
    from moto.core.botocore_stubber import BotocoreStubber

    entries: list[tuple[type, str]] = [(BotocoreStubber, "process_request")]
    try:  # moto's server needs its `server` extra (flask)
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    except ImportError:
        pass
    else:
        entries.append((DomainDispatcherApplication, "__call__"))
    # Reentrant: a request moto handles may lead it to make another in the same thread.
    lock = threading.RLock()
    with contextlib.ExitStack() as patches:
        for cls, name in entries:
            patches.enter_context(patched(cls, name, _holding(lock, stored(cls, name))))
        yield


def _holding(lock: threading.RLock, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return locked
