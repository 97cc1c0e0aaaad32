"""The window of a statistics request (GetAlertStats, GetMatchStats): `window_seconds`, 0 for the
default of 7 days, at most 366 days."""

from __future__ import annotations

from datetime import timedelta

from anpr.runtime.errors import InvalidArgument

DEFAULT = timedelta(days=7)
MOST_S = 366 * 86400


def stats_window(seconds: int) -> timedelta:
    """The window a request asks for; InvalidArgument (on `window_seconds`) when out of range."""
    if seconds < 0 or seconds > MOST_S:
        raise InvalidArgument.of("window_seconds", "between 1 s and 366 days (0: 7 days)")
    return timedelta(seconds=seconds) if seconds else DEFAULT
