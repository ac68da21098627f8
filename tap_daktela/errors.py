"""Errors a user can act on. Their message is one line, names what is wrong, and never holds a secret."""

from __future__ import annotations

ERROR_LINE_PREFIX = "tap-daktela: error: "  # the CLI's last stderr line on a user error; the Keboola runner reads it


class DaktelaError(Exception):
    """Base of every user-facing failure; the CLI prints it as `tap-daktela: error: <message>` and exits 1."""


class DaktelaConfigError(DaktelaError):
    """A setting has a value the tap cannot use."""


class DaktelaAuthError(DaktelaError):
    """Login failed or the token was refused."""


class DaktelaConnectionError(DaktelaError):
    """The instance could not be reached."""


class DaktelaAPIError(DaktelaError):
    """The API answered with an error status or a body the tap cannot read."""
