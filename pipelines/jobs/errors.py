"""How a job ends: its exit statuses, and the error that ends it with a message."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # argparse's own
EXIT_REFUSED = 3  # a terraform plan whose SHA-256 is not the approved one


class JobError(Exception):
    """A job cannot go on; the message is printed and the job exits 1."""
