"""SIGINT and SIGTERM (Ctrl-C, a scheduler's cancel or timeout) end a run loudly and lose nothing.

A cancelled run must not look like a good one: the process exits 130 (SIGINT) or 143 (SIGTERM) with one line
saying so. It stops at once rather than finishing the stream, and within `GRACE_SECONDS` even if it is waiting on
the network. Nothing is lost because bookmarks only cover records already written: the last STATE line is safe to
resume from, and the tap writes a fresh one on the way out when it can.

A message is never cut in half: while the main thread writes one (`whole_message`), the signal only marks the
run as interrupted and the `Interrupted` exception is raised right after the message; the watchdog that ends a
stuck process waits for the message too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import typing as t

SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_SECONDS = 1.5  # after this the process ends even if cleanup is still waiting (e.g. on an in-flight request)
MESSAGE = "tap-daktela: interrupted"


class Interrupted(BaseException):
    """Raised in the main thread by a termination signal. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` on the way (the SDK's per-stream handler among them) mistakes it for a stream failure."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Run:
    """The process's interrupt state (signal handlers are process-wide, so this is one object)."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the signal received, once one is
        self.raised = False  # `Interrupted` was raised in the main thread
        self.writing = 0  # depth of `whole_message` in the main thread
        self.output = threading.RLock()  # held while a message is written; the watchdog takes it before exiting
        self.exiting = threading.Lock()


_run = _Run()


def exit_interrupted(signum: int) -> t.NoReturn:
    """Flush what was written, say so in one line and end the process now with 128 + the signal's number.

    `os._exit`, because a normal exit would wait for the page threads' in-flight requests."""
    _run.exiting.acquire()  # the watchdog and the main thread may both get here: one line, one exit
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    print(MESSAGE, file=sys.stderr, flush=True)
    os._exit(128 + signum)


def _watchdog(signum: int) -> None:
    _run.output.acquire(timeout=GRACE_SECONDS / 3)  # let a message being written end (a stuck reader: give up)
    exit_interrupted(signum)


def _raise_pending() -> None:
    if _run.signum is not None and not _run.raised:
        _run.raised = True
        raise Interrupted(_run.signum)


def _handle(signum: int, frame: t.Any) -> None:
    if _run.signum is not None:
        return  # already stopping
    _run.signum = signum
    watchdog = threading.Timer(GRACE_SECONDS, _watchdog, args=(signum,))
    watchdog.daemon = True
    watchdog.start()
    if not _run.writing:
        _raise_pending()


@contextlib.contextmanager
def whole_message() -> t.Iterator[None]:
    """Write one message without a signal cutting it; an interrupt that came meanwhile is raised afterwards."""
    with _run.output:
        _run.writing += 1
        try:
            yield
        finally:
            _run.writing -= 1
    if not _run.writing and threading.current_thread() is threading.main_thread():
        _raise_pending()


def install_interrupt_handlers() -> None:
    """Make SIGINT and SIGTERM raise `Interrupted` in the main thread (between messages), with a watchdog that
    ends the process `GRACE_SECONDS` later if the unwinding has not."""
    for signum in SIGNALS:
        signal.signal(signum, _handle)


@contextlib.contextmanager
def signal_handlers_kept() -> t.Iterator[None]:
    """Restore the process's SIGINT/SIGTERM handlers afterwards: the SDK installs its own (which exit 0) whenever a
    tap object is built, also inside the Keboola component or a test."""
    main = threading.current_thread() is threading.main_thread()
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS} if main else {}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)
