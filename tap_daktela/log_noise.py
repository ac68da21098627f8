"""Lines the SDK logs at INFO that say nothing a person running the tap needs: shown only at DEBUG.

`Skipping deselected stream 'x'.` comes once for every stream not selected (34 lines of a run that reads two
streams); the run summary names the streams that were read. A filter on the tap's logger, because the SDK logs
them from `Tap.sync_all` with no setting to turn them off.
"""

from __future__ import annotations

import logging

DEBUG_ONLY = ("Skipping deselected stream ",)


class DebugOnly(logging.Filter):
    """Drops the SDK's chatter (`DEBUG_ONLY`) unless the logger is at DEBUG."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and str(record.msg).startswith(DEBUG_ONLY):
            return self.logger.isEnabledFor(logging.DEBUG)
        return True


def quiet_sdk_chatter(logger: logging.Logger) -> None:
    """Add `DebugOnly` to `logger` (once)."""
    if not any(isinstance(f, DebugOnly) for f in logger.filters):
        logger.addFilter(DebugOnly(logger))
