"""The one HTTP session of a run, built from the settings: TLS checks, a private CA, a pool per concurrency.

Every request of the tap (login, `whoim`, discovery, list pages, the keyset tail) goes through it. The streams
call `Session.send` with prepared requests, which skips the environment merge `Session.request` does, so the
CA bundle variables `requests` users rely on are read here, once.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import typing as t
import urllib.parse
import warnings

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from tap_daktela.errors import DaktelaConfigError
from tap_daktela.retries import RETRY_STATUSES

# failures of a request that the retries send again (see `retries.RETRIABLE_EXCEPTIONS`)
TRANSIENT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)

LOGGER = logging.getLogger("tap-daktela")
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
EXTRA_CONNECTIONS = 2  # login/whoim and the keyset tail beside the page requests


def tls_verify(config: t.Mapping[str, t.Any]) -> bool | str:
    """What `requests` should verify with: `ca_bundle`, else False when `verify_ssl` is off, else a CA bundle
    named by `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE` or `SSL_CERT_FILE`, else True (certifi's bundle)."""
    bundle = config.get("ca_bundle")
    if bundle:
        if not os.path.isfile(bundle):
            raise DaktelaConfigError(f"ca_bundle {bundle!r} is not a readable file (a PEM file of CA certificates)")
        return str(bundle)
    if config.get("verify_ssl", True) is False:
        return False
    for name in CA_BUNDLE_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    return True


class RequestCounts:
    """Requests sent per API resource (`tickets`, `login`), and how many of them failed transiently (a 408, 429
    or 5xx answer, a timeout or a dropped connection), which the retry logic then sends again. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: collections.Counter[str] = collections.Counter()
        self._failed: collections.Counter[str] = collections.Counter()

    def add(self, resource: str, *, failed: bool) -> None:
        with self._lock:
            self._sent[resource] += 1
            self._failed[resource] += failed

    def of(self, resource: str) -> tuple[int, int]:
        """(requests sent, transient failures) for `resource` so far."""
        with self._lock:
            return self._sent[resource], self._failed[resource]


def resource_of(url: str | None) -> str:
    """`https://x/api/v6/activitiesCall.json?take=1` -> `activitiesCall`."""
    return urllib.parse.urlsplit(url or "").path.rsplit("/", 1)[-1].removesuffix(".json")


class DaktelaSession(requests.Session):
    """A `requests.Session` that also knows the `ca_bundle` setting, so a failed check can name it, and counts
    the requests it sends (for the run summary)."""

    ca_bundle: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self.counts = RequestCounts()

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:  # type: ignore[override]
        resource = resource_of(request.url)
        try:
            response = super().send(request, **kwargs)
        except TRANSIENT_ERRORS:
            self.counts.add(resource, failed=True)
            raise
        self.counts.add(resource, failed=response.status_code in RETRY_STATUSES)
        return response


def build_session(config: t.Mapping[str, t.Any], connections: int) -> DaktelaSession:
    """A session whose pool keeps `connections` connections alive (+ login and tail) with the run's TLS rule."""
    session = DaktelaSession()
    session.ca_bundle = config.get("ca_bundle") or None
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, connections) + EXTRA_CONNECTIONS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = tls_verify(config)
    if session.verify is False:
        LOGGER.warning("TLS certificates are not checked (verify_ssl is false)")
        # urllib3 would warn on every request; the line above says it once per run.
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    return session


_CERTIFICATE_PROBLEMS = (
    "self-signed certificate in certificate chain",
    "self-signed certificate",
    "unable to get local issuer certificate",
    "certificate has expired",
    "Hostname mismatch",
)
# What OpenSSL says when the server answers a TLS handshake with plain text (an HTTP port): 3.0 and earlier say
# WRONG_VERSION_NUMBER, later versions "packet length too long" or "record layer failure".
_NOT_TLS = ("wrong_version_number", "wrong version number", "packet length too long", "record layer failure")


def speaks_no_tls(exc: BaseException) -> bool:
    """Whether a TLS failure means the server's port does not speak TLS at all (https:// to an HTTP port)."""
    text = str(exc).lower()
    return any(marker in text for marker in _NOT_TLS)


def tls_failure(exc: BaseException, base_url: str, ca_bundle: str | None) -> str:
    """The one-line reason of a failed TLS connection to `base_url`: a port without TLS, else the certificate."""
    if speaks_no_tls(exc):
        return (
            f"{base_url} does not speak TLS on that port (the server answered the TLS handshake with plain text): "
            "use http:// for a plain HTTP port, or the instance's HTTPS port"
        )
    return f"TLS certificate check failed for {base_url}: {certificate_problem(exc, ca_bundle)}"


def certificate_problem(exc: BaseException, ca_bundle: str | None) -> str:
    """One line: what is wrong with the server's certificate, and which setting to change (`ca_bundle`: the
    setting's value, when set)."""
    text = str(exc).lower()
    problem = next((p for p in _CERTIFICATE_PROBLEMS if p.lower() in text), "the certificate is not trusted")
    if ca_bundle:
        return f"{problem}; it is not signed by a CA in ca_bundle {ca_bundle!r} (or set verify_ssl to false)"
    return f"{problem}; set ca_bundle to your CA's PEM file, or verify_ssl to false"
