"""Logging in to Daktela and carrying the token.

The token travels only in the `X-AUTH-TOKEN` header. A login-issued token can expire mid-run; the
authenticator then logs in once more and the request is repeated (see `DaktelaStream.validate_response`).
"""

from __future__ import annotations

import threading
import typing as t
import warnings

import requests
from urllib3.exceptions import InsecureRequestWarning, NameResolutionError, NewConnectionError

from tap_daktela.errors import DaktelaAPIError, DaktelaAuthError, DaktelaConnectionError, DaktelaError
from tap_daktela.retries import send_with_retries
from tap_daktela.session import tls_failure

TOKEN_HEADER = "X-AUTH-TOKEN"


def api_url(base_url: str, path: str) -> str:
    """`https://x.daktela.com` (with or without a trailing slash or `/api/v6`) + `tickets.json`."""
    base = base_url.rstrip("/")
    if base.endswith("/api/v6"):
        base = base[: -len("/api/v6")]
    return f"{base}/api/v6/{path}"


def request(
    method: str,
    url: str,
    *,
    verify_ssl: bool | str = True,
    timeout: float,
    max_tries: int = 4,
    base_seconds: float = 1.0,
    session: requests.Session | None = None,
    **kwargs: t.Any,
) -> requests.Response:
    """One API call outside the list reads (login, whoim), retried like them, except that a refused connection
    or an unknown host fails at once: before any data flows that is almost always a wrong URL."""
    base = url.split("/api/v6/", 1)[0]
    send = session.request if session is not None else requests.request
    if session is None:
        kwargs["verify"] = verify_ssl
        ca_bundle = verify_ssl if isinstance(verify_ssl, str) else None
    else:
        kwargs["auth"] = _no_auth  # the SDK sets the streams' authenticator on the shared session
        # explicit, or `Session.request` would let REQUESTS_CA_BUNDLE override `verify_ssl: false` or `ca_bundle`
        kwargs["verify"] = session.verify
        ca_bundle = getattr(session, "ca_bundle", None)
    try:
        with warnings.catch_warnings():
            if kwargs["verify"] is False:  # said once per run where the setting is read, not once per request
                warnings.simplefilter("ignore", InsecureRequestWarning)
            return send_with_retries(
                lambda: send(method, url, timeout=timeout, **kwargs),
                max_tries=max_tries,
                base_seconds=base_seconds,
                what=url.rsplit("/", 1)[-1],
                give_up=_not_worth_retrying,
            )
    except requests.exceptions.SSLError as exc:
        raise DaktelaConnectionError(tls_failure(exc, base, ca_bundle)) from exc
    except requests.exceptions.RequestException as exc:
        raise DaktelaConnectionError(f"cannot reach Daktela at {base}: {_connection_reason(exc)}") from exc


def _no_auth(prepared: requests.PreparedRequest) -> requests.PreparedRequest:
    return prepared


def _not_worth_retrying(exc: Exception) -> bool:
    """A certificate the settings do not trust, a refused connection or a host name that does not resolve:
    asking again will not help."""
    return isinstance(exc, requests.exceptions.SSLError) or (
        isinstance(exc, requests.exceptions.ConnectionError)
        and not isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.ConnectTimeout))
        and any(isinstance(cause, NewConnectionError) for cause in _causes(exc))
    )


def _causes(exc: BaseException) -> t.Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__, *[a for a in current.args if isinstance(a, BaseException)]]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)


def _connection_reason(exc: Exception) -> str:
    if any(isinstance(cause, NameResolutionError) for cause in _causes(exc)):
        return "unknown host (check the url)"
    if any(isinstance(cause, NewConnectionError) for cause in _causes(exc)):
        return "connection refused (check the url)"
    return type(exc).__name__


def login(
    url: str,
    username: str,
    password: str,
    *,
    verify_ssl: bool | str = True,
    timeout: float = 30,
    max_tries: int = 4,
    base_seconds: float = 1.0,
    session: requests.Session | None = None,
) -> str:
    """Log in with `POST /api/v6/login.json` and return the access token."""
    response = request(
        "POST",
        api_url(url, "login.json"),
        data={"username": username, "password": password, "only_token": "1"},
        verify_ssl=verify_ssl,
        timeout=timeout,
        max_tries=max_tries,
        base_seconds=base_seconds,
        session=session,
    )
    if response.status_code in (401, 403):
        raise DaktelaAuthError(f"login to {url} as {username!r} failed: wrong username or password")
    if response.status_code != 200 and response.status_code != 201:
        raise DaktelaAPIError(f"login to {url} failed with HTTP {response.status_code}")
    try:
        result = response.json().get("result")
    except ValueError as exc:
        raise DaktelaAPIError(f"login to {url} returned a body that is not JSON (is this a Daktela URL?)") from exc
    token = result.get("accessToken") if isinstance(result, dict) else result
    if not isinstance(token, str) or not token:
        raise DaktelaAPIError(f"login to {url} returned no access token")
    return token


def whoim(url: str, token: str, *, verify_ssl: bool | str = True, timeout: float = 30, **retry: t.Any) -> dict:
    """The whole `GET whoim.json` answer (its envelope carries the instance's `_timezone`)."""
    response = request(
        "GET",
        api_url(url, "whoim.json"),
        headers={TOKEN_HEADER: token},
        verify_ssl=verify_ssl,
        timeout=timeout,
        **retry,
    )
    if response.status_code == 401:
        raise DaktelaAuthError(f"the access token was refused by {url}")
    if response.status_code != 200:
        raise DaktelaAPIError(f"whoim on {url} failed with HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise DaktelaAPIError(f"whoim on {url} returned a body that is not JSON (is this a Daktela URL?)") from exc
    if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
        raise DaktelaAPIError(f"whoim on {url} returned a body that is not a Daktela response")
    return body


def current_user(url: str, token: str, *, verify_ssl: bool | str = True, timeout: float = 30) -> dict:
    """Return the user the token belongs to (`GET whoim.json`); a null user means the token is not valid."""
    user = whoim(url, token, verify_ssl=verify_ssl, timeout=timeout)["result"].get("user")
    if not user:
        raise DaktelaAuthError(f"the access token was refused by {url}")
    return user


def request_settings(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The tap settings that govern a single request (timeout, retries); TLS comes with the session."""
    return {
        "timeout": float(config.get("request_timeout", 300)),
        "max_tries": int(config.get("max_retries", 5)) + 1,
        "base_seconds": float(config.get("backoff_base_seconds", 1.0)),
    }


class TokenProvider:
    """Holds the current token, shared by every stream of the tap; logs in again when told the token expired."""

    def __init__(self, config: t.Mapping[str, t.Any], session: t.Callable[[], requests.Session]) -> None:
        """`session`: the run's HTTP session (asked for only when a login is needed)."""
        self._config = config
        self._session = session
        self._lock = threading.Lock()
        self._token: str | None = config.get("access_token") or None
        self._failure: DaktelaError | None = None

    @property
    def can_login(self) -> bool:
        return bool(self._config.get("username") and self._config.get("password"))

    @property
    def has_credentials(self) -> bool:
        """A static token, or a user name and password to log in with."""
        return bool(self._config.get("access_token")) or self.can_login

    def token(self) -> str:
        """The current token, logging in first if there is none yet. A login that failed is not tried again in
        the same run (discovery and the sync would each retry it): its error is raised again."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._token is None:
                try:
                    self._login()
                except DaktelaError as exc:
                    self._failure = exc
                    raise
            assert self._token is not None
            return self._token

    def refresh(self, refused_token: str | None) -> bool:
        """Log in again unless another thread already replaced `refused_token`. False when there is no login."""
        with self._lock:
            if refused_token != self._token:
                return True
            if not self.can_login:
                return False
            self._login()
            return True

    def _login(self) -> None:
        self._token = login(
            self._config["url"],
            self._config["username"],
            self._config["password"],
            session=self._session(),
            **request_settings(self._config),
        )


class DaktelaAuthenticator(requests.auth.AuthBase):
    """Puts the current token in the `X-AUTH-TOKEN` header of each request."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[TOKEN_HEADER] = self.provider.token()
        return request
