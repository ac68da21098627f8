"""SIGINT and SIGTERM (Ctrl-C, a scheduler's cancel or timeout) end a run loudly and lose nothing.

A cancelled run must not look like a good one: the process exits 130 (SIGINT) or 143 (SIGTERM) with one line
saying so. It stops at once rather than finishing the stream, and within `GRACE_SECONDS` even if it is waiting on
the network. Nothing is lost because bookmarks only cover records already written: the last STATE line is safe to
resume from, and the tap writes a fresh one on the way out when it can.
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

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_exit_lock = threading.Lock()


def exit_interrupted(signum: int) -> t.NoReturn:
    """Flush what was written, say so in one line and end the process now with 128 + the signal's number.

    `os._exit`, because a normal exit would wait for the page threads' in-flight requests."""
    with _exit_lock:  # the watchdog and the main thread may both get here; one line only
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        print(MESSAGE, file=sys.stderr, flush=True)
        os._exit(128 + signum)


def install_interrupt_handlers() -> None:
    """Make SIGINT and SIGTERM raise `Interrupted` in the main thread, with a watchdog that ends the process
    `GRACE_SECONDS` later if the unwinding has not."""
    fired = threading.Event()

    def handle(signum: int, frame: t.Any) -> None:
        if fired.is_set():
            return  # already stopping
        fired.set()
        watchdog = threading.Timer(GRACE_SECONDS, exit_interrupted, args=(signum,))
        watchdog.daemon = True
        watchdog.start()
        raise Interrupted(signum)

    for signum in SIGNALS:
        signal.signal(signum, handle)


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
