"""Filling the run summary (`run_summary`) from the SDK's public hooks, and saying it at the end of a run.

A stream's record counter (`Stream.get_record_counter`, which the SDK enters around the stream's sync and
increments once per emitted record) is replaced by `StreamProgress`: the same METRIC points, plus the stream's
tally and a progress line on a long stream. Requests and retries are what the run's session (`session`) sent to
the stream's endpoint in the whole run (discovery's samples and pages asked for ahead included).
"""

from __future__ import annotations

import logging
import sys
import time
import typing as t

from singer_sdk import metrics

from tap_daktela.run_summary import RunSummary, StreamTally, json_wanted, progress_interval, progress_line
from tap_daktela.session import DaktelaSession

if t.TYPE_CHECKING:
    from types import TracebackType

    from singer_sdk.streams import Stream


def _request_counts(stream: Stream) -> tuple[int, int]:
    session = getattr(stream, "requests_session", None)  # a REST stream's session (the run's one)
    return session.counts.of(stream.name) if isinstance(session, DaktelaSession) else (0, 0)


def _moment(value: t.Any) -> str | None:
    return None if value is None else value.isoformat()


class StreamProgress(metrics.Counter):
    """The SDK's record counter of a stream (its METRIC points unchanged) that also keeps the stream's tally and
    logs `progress_line` every `progress_interval()` seconds while records flow."""

    def __init__(self, sdk_counter: metrics.Counter, stream: Stream, tally: StreamTally) -> None:
        super().__init__(sdk_counter.metric, dict(sdk_counter.tags), log_interval=sdk_counter.log_interval)
        self.stream = stream
        self.tally = tally
        self.every = progress_interval()
        self.started = self.next_progress = time.monotonic()

    def __enter__(self) -> StreamProgress:
        self.started = time.monotonic()
        self.next_progress = self.started + self.every
        return super().__enter__()  # type: ignore[return-value]

    def increment(self, value: int = 1) -> None:
        super().increment(value)
        self.tally.records += value
        if self.every > 0 and time.monotonic() >= self.next_progress:
            now = time.monotonic()
            self.stream.logger.info("%s", progress_line(self.stream.name, self.tally.records, now - self.started))
            self.next_progress = now + self.every

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        self.tally.seconds += time.monotonic() - self.started
        self.tally.failed = exc_type is not None
        if exc_type is None and not self.tally.records and self.tally.replication_key:
            # `read_range` (client.py) is the [start, end) this run asked for; with nothing read, the same again
            start, end = self.stream.read_range(self.context or None)  # type: ignore[attr-defined]
            self.tally.window = (_moment(start), _moment(end))
        super().__exit__(exc_type, exc_val, exc_tb)


def record_counter(sdk_counter: metrics.Counter, stream: Stream, summary: RunSummary) -> StreamProgress:
    """What a stream's `get_record_counter` answers: the SDK's counter, tallied into `summary`."""
    return StreamProgress(sdk_counter, stream, summary.tally(stream.name, stream.replication_key))


def log_summary(summary: RunSummary, streams: t.Mapping[str, Stream], logger: logging.Logger) -> None:
    """Take each synced stream's requests from the session and bookmark from its state, log the summary, and
    write its JSON line if wanted."""
    if not summary.tallies:
        return
    for name, tally in summary.tallies.items():
        stream = streams.get(name)
        if stream is None:
            continue
        tally.requests, tally.retries = _request_counts(stream)
        if tally.replication_key:
            bookmark = stream.stream_state.get("replication_key_value")
            tally.bookmark = None if bookmark is None else str(bookmark)
    for line in summary.lines():
        logger.info("%s", line)
    if json_wanted():
        sys.stderr.write(summary.json_line() + "\n")
        sys.stderr.flush()
