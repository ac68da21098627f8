"""The component's end-of-run summary: per endpoint the table's data rows and the tap's own numbers (requests,
retries, seconds, bookmark, and for an empty table the window it read).

The tap writes its numbers as one JSON line on stderr when `TAP_ENV` is in its environment
(`tap_daktela.run_summary`, which parses it too); nothing here derives them again. Rows are counted in the
finished CSV, so they are what Keboola loads.
"""

from __future__ import annotations

import csv
import typing as t
from pathlib import Path

from tap_daktela.run_summary import PROGRESS_MARKER, SUMMARY_JSON_VARIABLE, StreamTally, parse_summary_line, plural

TAP_ENV = {SUMMARY_JSON_VARIABLE: "1"}  # what a pipeline's tap needs in its environment to write the line


def tap_tally(tap_lines: t.Iterable[str], endpoint: str) -> StreamTally | None:
    """The endpoint's numbers from the last summary line among the tap's stderr lines (None when it wrote none)."""
    for line in reversed(list(tap_lines)):
        tallies = parse_summary_line(line)
        if tallies is not None:
            return tallies.get(endpoint)
    return None


def progress_text(tap_line: str) -> str | None:
    """The message of a tap's progress line (`tickets: 120000 records so far in 30 s (4000 records/s)`), which the
    component logs even when it keeps the tap's other lines for debug mode; None for any other line."""
    if PROGRESS_MARKER not in tap_line:
        return None
    return tap_line.rsplit(" | ", 1)[-1].strip()


def csv_rows(path: Path) -> int:
    """Data rows of a CSV table (the header excluded; a quoted newline stays inside its row)."""
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8", newline="") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)


def endpoint_line(endpoint: str, rows: int, tally: StreamTally | None) -> str:
    """`Endpoint 'tickets': 60 rows, 2 requests, 0 retries, 0.4 s, bookmark edited 2025-01-31T10:00:00+01:00`."""
    parts = [plural(rows, "row")]
    if tally is not None:
        parts += [plural(tally.requests, "request"), plural(tally.retries, "retry"), f"{tally.seconds:.1f} s"]
        if tally.replication_key:
            parts.append(f"bookmark {tally.replication_key} {tally.bookmark}" if tally.bookmark else "no bookmark yet")
    text = f"Endpoint '{endpoint}': {', '.join(parts)}"
    if not rows and tally is not None:
        text += f"; empty: {tally.why_empty()}"
    return text


def total_line(rows_by_endpoint: t.Mapping[str, int]) -> str:
    """`Extracted 2 endpoints, 85 rows: tickets, users`."""
    return (
        f"Extracted {plural(len(rows_by_endpoint), 'endpoint')}, {plural(sum(rows_by_endpoint.values()), 'row')}: "
        f"{', '.join(rows_by_endpoint)}"
    )
