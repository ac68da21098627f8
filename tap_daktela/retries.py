"""How long to wait before retrying a request: exponential, except that a 429's `Retry-After` wins."""

from __future__ import annotations

import email.utils
import logging
import random
import time
import typing as t

import backoff
import requests

LOGGER = logging.getLogger("tap-daktela")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class TransientHTTPError(Exception):
    """An answer worth asking again for (429, 408, 5xx)."""

    def __init__(self, message: str, response: requests.Response) -> None:
        super().__init__(message)
        self.response = response


def retry_after(exception: t.Any) -> float | None:
    """Seconds from a response's `Retry-After` header (seconds or an HTTP date), if the exception has one."""
    response = getattr(exception, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        return max(0.0, moment.timestamp() - time.time())


def wait_times(base_seconds: float, cap_seconds: float = 60.0) -> t.Generator[float, t.Any, None]:
    """A `backoff` wait generator: it is sent each exception and answers with the next wait."""
    attempt = 0
    exception = yield  # type: ignore[misc]
    while True:
        honoured = retry_after(exception)
        exception = yield honoured if honoured is not None else min(cap_seconds, base_seconds * 2**attempt)
        attempt += 1


def jitter(value: float) -> float:
    """Up to 25% more, so parallel streams do not retry in lockstep."""
    return value * (1 + random.random() / 4)


RETRIABLE_EXCEPTIONS = (
    TransientHTTPError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def send_with_retries(
    send: t.Callable[[], requests.Response],
    *,
    max_tries: int,
    base_seconds: float,
    what: str = "request",
    give_up: t.Callable[[Exception], bool] = lambda exc: False,
) -> requests.Response:
    """Call `send` until it answers with something other than a retriable status or connection error;
    `give_up` names errors not worth a retry."""

    def attempt() -> requests.Response:
        response = send()
        if response.status_code in RETRY_STATUSES:
            raise TransientHTTPError(f"HTTP {response.status_code}", response)
        return response

    def log_retry(details: t.Any) -> None:
        error = details.get("exception")
        reason = str(error) if isinstance(error, TransientHTTPError) else type(error).__name__
        LOGGER.warning("%s: %s; retry %d in %.1f s", what, reason, details.get("tries", 0), details.get("wait", 0))

    retrying = backoff.on_exception(
        lambda: wait_times(base_seconds),
        RETRIABLE_EXCEPTIONS,
        max_tries=max_tries,
        giveup=give_up,
        jitter=jitter,
        logger=None,
        on_backoff=log_retry,
    )(attempt)
    try:
        return retrying()
    except TransientHTTPError as exc:
        return exc.response
