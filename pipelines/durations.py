"""Seconds as people read them: 50s, 1m, 12m50s, 1h05m."""

from __future__ import annotations


def duration(seconds: int) -> str:
    if seconds == 0:
        return "-"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s"]
    return "".join(parts) if seconds else "".join(parts[:2])
