"""The one HTTP session of a run, built from the settings: TLS checks, a private CA, a pool per concurrency.

Every request of the tap (login, `whoim`, discovery, list pages, the keyset tail) goes through it. The streams
call `Session.send` with prepared requests, which skips the environment merge `Session.request` does, so the
CA bundle variables `requests` users rely on are read here, once.
"""

from __future__ import annotations

import logging
import os
import typing as t
import warnings

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from tap_daktela.errors import DaktelaConfigError

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


class DaktelaSession(requests.Session):
    """A `requests.Session` that also knows the `ca_bundle` setting, so a failed check can name it."""

    ca_bundle: str | None = None


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


def certificate_problem(exc: BaseException, ca_bundle: str | None) -> str:
    """One line: what is wrong with the server's certificate, and which setting to change (`ca_bundle`: the
    setting's value, when set)."""
    text = str(exc).lower()
    problem = next((p for p in _CERTIFICATE_PROBLEMS if p.lower() in text), "the certificate is not trusted")
    if ca_bundle:
        return f"{problem}; it is not signed by a CA in ca_bundle {ca_bundle!r} (or set verify_ssl to false)"
    return f"{problem}; set ca_bundle to your CA's PEM file, or verify_ssl to false"
