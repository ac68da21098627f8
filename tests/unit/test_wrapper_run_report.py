"""The component's end-of-run summary lines, from the tap's JSON summary line and the finished CSV."""

from __future__ import annotations

from keboola_wrapper.run_report import csv_rows, endpoint_line, progress_text, tap_tally, total_line
from tap_daktela.run_summary import RunSummary, StreamTally, progress_line


def test_tap_tally_reads_the_last_summary_line():
    older, newer = RunSummary(), RunSummary()
    older.tally("tickets", "edited").records = 1
    newer.tally("tickets", "edited").records = 60
    lines = ["INFO | tap-daktela | Beginning sync", older.json_line(), newer.json_line(), "some trailing line"]
    tally = tap_tally(lines, "tickets")
    assert tally is not None and tally.records == 60
    assert tap_tally(lines, "users") is None
    assert tap_tally(["no summary here"], "tickets") is None


def test_csv_rows_counts_data_rows_not_lines(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text('name,title\n1,"two\nlines"\n2,x\n', encoding="utf-8")
    assert csv_rows(table) == 2
    (tmp_path / "h.csv").write_text("name,title\n", encoding="utf-8")
    assert csv_rows(tmp_path / "h.csv") == 0
    assert csv_rows(tmp_path / "missing.csv") == 0


def test_endpoint_line_with_the_taps_numbers():
    tally = StreamTally("tickets", records=60, requests=2, retries=1, seconds=0.44, replication_key="edited")
    tally.bookmark = "2025-01-31T10:00:00+01:00"
    assert endpoint_line("tickets", 60, tally) == (
        "Endpoint 'tickets': 60 rows, 2 requests, 1 retry, 0.4 s, bookmark edited 2025-01-31T10:00:00+01:00"
    )


def test_empty_endpoint_says_the_window():
    tally = StreamTally("tickets", requests=1, replication_key="edited", window=("2025-01-24T00:00:00+01:00", None))
    line = endpoint_line("tickets", 0, tally)
    assert line.startswith("Endpoint 'tickets': 0 rows, 1 request, 0 retries, 0.0 s, no bookmark yet; empty: ")
    assert "edited from 2025-01-24T00:00:00+01:00 to now" in line


def test_endpoint_line_without_the_taps_numbers():
    assert endpoint_line("users", 1, None) == "Endpoint 'users': 1 row"


def test_total_line():
    assert total_line({"tickets": 60, "users": 1}) == "Extracted 2 endpoints, 61 rows: tickets, users"
    assert total_line({"users": 1}) == "Extracted 1 endpoint, 1 row: users"


def test_progress_text_is_the_taps_message():
    logged = f"2026-01-01 10:00:00,000 | INFO     | tap-daktela.tickets  | {progress_line('tickets', 9000, 30)}"
    assert progress_text(logged) == "tickets: 9000 records so far in 30 s (300 records/s)"
    assert progress_text("2026-01-01 10:00:00,000 | INFO     | tap-daktela | Beginning sync of 'tickets'") is None
