"""Which part of a stream's history one run reads: from the bookmark (or `start_date`) to `end_date`.

Streams keyed on a creation time (activities*) change later without moving the key (a call is answered, an
activity closed), so they re-read `lookback_window_days` before the bookmark, never before `start_date`.
"""

from __future__ import annotations

import pendulum

from tap_daktela.dates import ceil_to_second, to_daktela


def read_start(
    bookmark: str | None,
    start_date: pendulum.DateTime | None,
    *,
    lookback_days: float,
    created_key: bool,
) -> pendulum.DateTime | None:
    """The inclusive lower bound of this run's read; None reads all history."""
    if not bookmark:
        return start_date
    start = pendulum.parse(str(bookmark))
    if created_key:
        start = start.subtract(days=lookback_days)
        if start_date is not None:
            start = max(start, start_date)
    return start


def local_bounds(
    start: pendulum.DateTime | None, end: pendulum.DateTime | None, tz: str
) -> tuple[str | None, str | None]:
    """The bounds as Daktela's naive local strings: `>= low` and `< high` (the end rounded up to a second,
    since Daktela stamps whole seconds)."""
    low = to_daktela(start, tz) if start is not None else None
    high = to_daktela(ceil_to_second(end), tz) if end is not None else None
    return low, high


def within(value: str | None, low: str | None, high: str | None) -> bool:
    """Whether a naive local datetime lies in [low, high) (same-format strings compare in time order)."""
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value < high)
