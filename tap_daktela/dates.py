"""Date settings and Daktela's naive local datetimes.

Daktela sends and filters datetimes as naive `YYYY-MM-DD HH:MM:SS` in the instance's time zone. The tap emits
ISO 8601 with that zone's offset, and parses the user's `start_date`/`end_date` (ISO or relative phrases).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pendulum

from tap_daktela.errors import DaktelaConfigError

DAKTELA_FORMAT = "YYYY-MM-DD HH:mm:ss"
_RELATIVE = re.compile(r"^(\d+)\s+(minute|hour|day|week|month|year)s?\s+ago$")
CACHE_ENTRIES = 10_000  # ~2.5 MB; a bound, so memory stays flat however many records a stream has
_NAIVE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$")


def parse_date_setting(value: str, *, setting: str, tz: str, now: pendulum.DateTime | None = None) -> pendulum.DateTime:
    """Turn a date setting into an aware datetime in `tz`.

    Accepts `now`, `today`, `yesterday` (midnight in `tz`), `N <unit>(s) ago` and ISO 8601 dates or datetimes
    (naive ones are read in `tz`). Anything else is a `DaktelaConfigError` naming the setting and the value.
    """
    now = (now or pendulum.now(tz)).in_timezone(tz)
    text = str(value).strip().lower()
    if text == "now":
        return now
    if text == "today":
        return now.start_of("day")
    if text == "yesterday":
        return now.subtract(days=1).start_of("day")
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now.subtract(**{f"{unit}s": amount})
    try:
        parsed = pendulum.parse(str(value).strip(), tz=tz, strict=False)
    except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError):
        parsed = None
    if not isinstance(parsed, datetime):
        raise DaktelaConfigError(
            f"{setting} {value!r} is not a date: use an ISO 8601 date or datetime, 'today', 'yesterday', 'now' "
            "or 'N days ago' (minutes, hours, days, weeks, months, years)"
        )
    return pendulum.instance(parsed).in_timezone(tz)


def ceil_to_second(moment: datetime) -> datetime:
    """Daktela stamps whole seconds: an exclusive end at 12:00:05.7 must still admit records stamped 12:00:05
    (they happened before it), so the end sent to the API is rounded up to the next whole second."""
    return moment if moment.microsecond == 0 else moment.replace(microsecond=0) + timedelta(seconds=1)


def to_daktela(moment: datetime, tz: str) -> str:
    """Format an aware datetime as the naive local string that Daktela filters expect."""
    return pendulum.instance(moment).in_timezone(tz).format(DAKTELA_FORMAT)


class LocalTimeConverter:
    """Converts naive Daktela datetimes to ISO 8601 with the instance offset, caching per distinct value.

    Nightly extracts carry many repeated timestamps (nested users, categories), so the cache pays off.
    In the repeated hour of a DST change the earlier (summer time) offset is taken, as Daktela stores no fold.
    """

    def __init__(self, tz: str) -> None:
        self.tz = pendulum.timezone(tz)
        self._cache: dict[str, str | None] = {}

    def __call__(self, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return self._cache[value]
        except KeyError:
            pass
        match = _NAIVE.match(value)
        if value == "" or value.startswith("0000-00-00"):
            converted = None
        elif match is None:
            converted = self._parse_other(value)
        else:
            year, month, day, hour, minute, second = (int(part) for part in match.groups())
            try:
                moment = pendulum.datetime(year, month, day, hour, minute, second, tz=self.tz, fold=0)
                converted = moment.isoformat()
            except ValueError:
                converted = value
        if len(self._cache) > CACHE_ENTRIES:
            self._cache.clear()
        self._cache[value] = converted
        return converted

    def _parse_other(self, value: str) -> str | None:
        try:
            parsed = pendulum.parse(value, tz=self.tz)
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            return value
        return pendulum.instance(parsed).in_timezone(self.tz).isoformat() if isinstance(parsed, datetime) else value
