"""Reading a job's CloudWatch log stream: every line, the outputs it printed, a console link.

Clients are passed in (boto3 or a test double); this module imports no AWS library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pipelines.invoker import names

OUTPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_OUTPUT_VALUE = 1000
# A Lambda response is at most 6 MB; a page of log events at most 1 MB.
MAX_BYTES_PER_READ = 2_000_000


@dataclass(frozen=True)
class LogEvent:
    timestamp: int
    message: str


def read_log_events(
    logs: Any,
    group: str,
    stream: str,
    token: str | None = None,
    *,
    max_bytes: int = MAX_BYTES_PER_READ,
    limit: int | None = None,
) -> tuple[list[LogEvent], str | None]:
    """Events after `token` (from the start if None), and the token to continue from.

    CloudWatch returns pages that can be empty before the end and signals the end by giving
    back the token it was passed, so read until the token stops changing: stopping at the first
    empty page loses the tail of short tasks. A stream that does not exist yet (the task has not
    started logging) is no events. Stops early, with a token to resume, past `max_bytes`.
    """
    events: list[LogEvent] = []
    size = 0
    while True:
        page = _page(logs, group, stream, from_head=True, token=token, limit=limit)
        if page is None:
            return events, token
        for event in page.get("events", []):
            events.append(LogEvent(int(event["timestamp"]), event["message"]))
            size += len(event["message"])
        following = page.get("nextForwardToken")
        if following is None or following == token:
            return events, token
        token = following
        if size >= max_bytes:
            return events, token


def _page(
    logs: Any, group: str, stream: str, *, from_head: bool, token: str | None, limit: int | None
) -> dict[str, Any] | None:
    """One page of get_log_events, or None while the stream does not exist yet."""
    request: dict[str, Any] = {
        "logGroupName": group,
        "logStreamName": stream,
        "startFromHead": from_head,
    }
    if token is not None:
        request["nextToken"] = token
    if limit is not None:
        request["limit"] = limit
    try:
        page: dict[str, Any] = logs.get_log_events(**request)
        return page
    except Exception as error:
        if _code(error) == "ResourceNotFoundException":
            return None
        raise


def read_outputs(
    logs: Any, group: str, stream: str, pages: int = 3, limit: int | None = None
) -> dict[str, str]:
    """NAME=VALUE pairs from the `::pipelines-output::` lines at the end of the stream.

    Jobs print their outputs last, so the last few pages (read backwards) are enough; a later
    line wins over an earlier one with the same name.
    """
    collected: list[list[dict[str, Any]]] = []
    token: str | None = None
    for _ in range(pages):
        page = _page(logs, group, stream, from_head=False, token=token, limit=limit)
        if page is None:
            break
        collected.insert(0, page.get("events", []))
        previous = page.get("nextBackwardToken")
        if not page.get("events") or previous is None or previous == token:
            break
        token = previous
    outputs: dict[str, str] = {}
    for page_events in collected:
        for event in page_events:
            parsed = parse_output(event["message"])
            if parsed:
                outputs[parsed[0]] = parsed[1]
    return outputs


def parse_output(line: str) -> tuple[str, str] | None:
    """(name, value) of a `::pipelines-output:: NAME=VALUE` line, else None."""
    if not line.startswith(names.OUTPUT_MARKER):
        return None
    name, sep, value = line[len(names.OUTPUT_MARKER) :].strip().partition("=")
    if not sep or not OUTPUT_NAME.fullmatch(name):
        return None
    return name, value.strip()[:MAX_OUTPUT_VALUE]


def console_url(region: str, group: str, stream: str) -> str:
    """The CloudWatch console page of one log stream."""
    if region.startswith("cn-"):
        host = f"{region}.console.amazonaws.cn"
    elif region.startswith("us-gov-"):
        host = "console.amazonaws-us-gov.com"
    else:
        host = f"{region}.console.aws.amazon.com"

    # The console's fragment encodes names twice and writes '%' as '$'.
    def encode(text: str) -> str:
        return quote(quote(text, safe=""), safe="").replace("%", "$")

    return (
        f"https://{host}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
        f"{encode(group)}/log-events/{encode(stream)}"
    )


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    code: str = response.get("Error", {}).get("Code", "")
    return code
