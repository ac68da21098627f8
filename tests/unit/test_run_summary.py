"""The run summary's wording and its one JSON line (what the Keboola component reads back)."""

from __future__ import annotations

import logging

import pytest

from tap_daktela.log_noise import quiet_sdk_chatter
from tap_daktela.run_summary import (
    PROGRESS_INTERVAL_SECONDS,
    PROGRESS_SECONDS_VARIABLE,
    SUMMARY_PREFIX,
    RunSummary,
    StreamTally,
    parse_summary_line,
    plural,
    progress_interval,
    progress_line,
)


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [
        (0, "record", "0 records"),
        (1, "record", "1 record"),
        (2, "record", "2 records"),
        (1, "request", "1 request"),
        (1, "retry", "1 retry"),
        (3, "retry", "3 retries"),
        (0, "retry", "0 retries"),
    ],
)
def test_plural(count, word, expected):
    assert plural(count, word) == expected


def test_stream_line_with_bookmark():
    tally = StreamTally("tickets", records=1, requests=1, retries=0, seconds=0.25, replication_key="edited")
    tally.bookmark = "2025-01-31T10:00:00+01:00"
    assert tally.line() == "tickets: 1 record, 1 request, 0 retries, 0.2 s, bookmark edited 2025-01-31T10:00:00+01:00"


def test_full_table_stream_has_no_bookmark_part():
    assert StreamTally("users", records=25, requests=2, retries=1, seconds=1.0).line() == (
        "users: 25 records, 2 requests, 1 retry, 1.0 s"
    )


def test_empty_incremental_stream_says_its_window():
    tally = StreamTally("tickets", requests=1, replication_key="edited", window=("2025-01-24T00:00:00+01:00", None))
    assert tally.line() == (
        "tickets: 0 records, 1 request, 0 retries, 0.0 s, no bookmark yet; empty: no record with edited from "
        "2025-01-24T00:00:00+01:00 to now (check start_date, end_date and the bookmark)"
    )


def test_empty_full_table_stream_says_the_endpoint_had_none():
    assert StreamTally("pauses", requests=1).line().endswith("; empty: the endpoint returned no records")


def test_failed_stream_says_so_instead_of_why_empty():
    line = StreamTally("tickets", requests=3, retries=3, failed=True).line()
    assert line.endswith("(stopped by an error)") and "empty" not in line


def test_summary_lines_total_first():
    summary = RunSummary()
    summary.tally("tickets", "edited").records = 1
    summary.tally("users").records = 24
    summary.tally("users").requests = 1
    assert summary.lines()[0] == "Run summary: 2 streams, 25 records, 1 request, 0 retries"
    assert [line.split(":")[0].strip() for line in summary.lines()[1:]] == ["tickets", "users"]


def test_json_line_round_trip():
    summary = RunSummary()
    tickets = summary.tally("tickets", "edited")
    tickets.records, tickets.requests, tickets.seconds, tickets.bookmark = 60, 2, 0.5, "2025-01-31T10:00:00+01:00"
    summary.tally("activitiesSms", "time").window = ("2025-01-24T00:00:00+01:00", "2025-01-31T00:00:00+01:00")
    line = summary.json_line()
    assert line.startswith(SUMMARY_PREFIX) and "\n" not in line
    assert parse_summary_line(line) == summary.tallies


@pytest.mark.parametrize(
    "line", ["tap-daktela: error: x", f"{SUMMARY_PREFIX}not json", f"{SUMMARY_PREFIX}{{}}", "", "summary"]
)
def test_other_lines_are_not_a_summary(line):
    assert parse_summary_line(line) is None


def test_progress_interval_from_the_environment(monkeypatch):
    monkeypatch.delenv(PROGRESS_SECONDS_VARIABLE, raising=False)
    assert progress_interval() == PROGRESS_INTERVAL_SECONDS == 30
    monkeypatch.setenv(PROGRESS_SECONDS_VARIABLE, "0.5")
    assert progress_interval() == 0.5
    monkeypatch.setenv(PROGRESS_SECONDS_VARIABLE, "soon")
    assert progress_interval() == PROGRESS_INTERVAL_SECONDS


def test_progress_line():
    assert progress_line("tickets", 120000, 30.0) == "tickets: 120000 records so far in 30 s (4000 records/s)"
    assert progress_line("tickets", 1, 0.0) == "tickets: 1 record so far in 0 s (0 records/s)"


@pytest.mark.parametrize(("level", "shown"), [(logging.INFO, False), (logging.DEBUG, True)])
def test_deselected_stream_lines_only_at_debug(caplog, level, shown):
    logger = logging.getLogger(f"tap-daktela-test-{level}")
    logger.setLevel(level)
    quiet_sdk_chatter(logger)
    quiet_sdk_chatter(logger)  # once is enough
    with caplog.at_level(level, logger=logger.name):
        logger.info("Skipping deselected stream '%s'.", "contacts")
        logger.info("Beginning sync of '%s'", "tickets")
    messages = [record.getMessage() for record in caplog.records]
    assert ("Skipping deselected stream 'contacts'." in messages) is shown
    assert "Beginning sync of 'tickets'" in messages
    assert len(logger.filters) == 1
