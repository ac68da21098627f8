"""What a run extracted, said at its end: per stream records, requests, retries, seconds, the bookmark reached,
and for an empty stream the window it read (so a header-only table explains itself).

The tap logs it for people, and, when `SUMMARY_JSON_VARIABLE` is set (the Keboola component sets it), writes it
once more as one JSON line on stderr after `SUMMARY_PREFIX`, which `parse_summary_line` reads back: the
component reports the tap's own numbers instead of deriving them again. Pure: no singer-sdk import, so the
component can parse the line without loading the SDK.
"""

from __future__ import annotations

import json
import os
import typing as t
from dataclasses import asdict, dataclass

SUMMARY_PREFIX = "tap-daktela: summary: "
SUMMARY_JSON_VARIABLE = "TAP_DAKTELA_SUMMARY_JSON"  # set (to anything but "" or "0"): write the JSON line too
PROGRESS_INTERVAL_SECONDS = 30.0  # a progress line on a stream that runs longer than this
PROGRESS_SECONDS_VARIABLE = "TAP_DAKTELA_PROGRESS_SECONDS"  # overrides the interval (tests, impatient users)

_PLURALS = {"retry": "retries", "entry": "entries"}


def plural(count: int, word: str) -> str:
    """`1 record`, `2 records`, `0 records`, `1 retry`, `3 retries`."""
    return f"{count} {word if count == 1 else _PLURALS.get(word, word + 's')}"


def progress_interval() -> float:
    """Seconds between progress lines: `PROGRESS_INTERVAL_SECONDS` unless the environment variable says."""
    value = os.environ.get(PROGRESS_SECONDS_VARIABLE, "")
    try:
        return float(value) if value.strip() else PROGRESS_INTERVAL_SECONDS
    except ValueError:
        return PROGRESS_INTERVAL_SECONDS


PROGRESS_MARKER = " so far in "


def progress_line(stream: str, records: int, seconds: float) -> str:
    """`tickets: 120000 records so far in 30 s (4000 records/s)`."""
    rate = records / seconds if seconds > 0 else 0.0
    return f"{stream}: {plural(records, 'record')}{PROGRESS_MARKER}{seconds:.0f} s ({rate:.0f} records/s)"


@dataclass
class StreamTally:
    """One stream's numbers in this run. `window`: the [start, end) of its replication key it read (None: no
    bound), known for an incremental stream that emitted nothing; `failed`: the stream stopped on an error."""

    stream: str
    records: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    replication_key: str | None = None
    bookmark: str | None = None
    window: tuple[str | None, str | None] | None = None
    failed: bool = False

    def line(self) -> str:
        """`tickets: 60 records, 2 requests, 0 retries, 0.3 s, bookmark edited 2025-01-31 10:00:00`."""
        parts = [
            plural(self.records, "record"),
            plural(self.requests, "request"),
            plural(self.retries, "retry"),
            f"{self.seconds:.1f} s",
        ]
        if self.replication_key:
            parts.append(f"bookmark {self.replication_key} {self.bookmark}" if self.bookmark else "no bookmark yet")
        text = f"{self.stream}: {', '.join(parts)}"
        if self.failed:
            return f"{text} (stopped by an error)"
        if not self.records:
            text += f"; empty: {self.why_empty()}"
        return text

    def why_empty(self) -> str:
        if self.replication_key and self.window is not None:
            start, end = self.window
            return (
                f"no record with {self.replication_key} from {start or 'the beginning'} to {end or 'now'} "
                "(check start_date, end_date and the bookmark)"
            )
        return "the endpoint returned no records"


class RunSummary:
    """The tallies of one run's streams, in the order they were synced."""

    def __init__(self) -> None:
        self.tallies: dict[str, StreamTally] = {}

    def tally(self, stream: str, replication_key: str | None = None) -> StreamTally:
        """The stream's tally, created when it starts."""
        if stream not in self.tallies:
            self.tallies[stream] = StreamTally(stream, replication_key=replication_key)
        return self.tallies[stream]

    def lines(self) -> list[str]:
        """A total line, then one line per stream."""
        tallies = list(self.tallies.values())
        total = (
            f"Run summary: {plural(len(tallies), 'stream')}, "
            f"{plural(sum(t.records for t in tallies), 'record')}, "
            f"{plural(sum(t.requests for t in tallies), 'request')}, "
            f"{plural(sum(t.retries for t in tallies), 'retry')}"
        )
        return [total, *(f"  {tally.line()}" for tally in tallies)]

    def json_line(self) -> str:
        """`SUMMARY_PREFIX` + `{"streams": [{"stream": ..., "records": ..., ...}]}` on one line."""
        return SUMMARY_PREFIX + json.dumps({"streams": [asdict(tally) for tally in self.tallies.values()]})


def json_wanted() -> bool:
    return os.environ.get(SUMMARY_JSON_VARIABLE, "") not in ("", "0")


def parse_summary_line(line: str) -> dict[str, StreamTally] | None:
    """The tallies of a line `RunSummary.json_line` wrote (by stream), None for any other line."""
    if not line.startswith(SUMMARY_PREFIX):
        return None
    try:
        streams = json.loads(line[len(SUMMARY_PREFIX) :])["streams"]
        tallies = [StreamTally(**_with_tuple_window(item)) for item in streams]
    except (ValueError, KeyError, TypeError):
        return None
    return {tally.stream: tally for tally in tallies}


def _with_tuple_window(item: dict[str, t.Any]) -> dict[str, t.Any]:
    window = item.get("window")
    return {**item, "window": tuple(window) if window is not None else None}
