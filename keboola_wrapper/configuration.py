"""Parse and validate the Keboola configuration (the seed component's shape) before any request is made.

Every problem a user can fix raises ``ConfigError`` (a ``UserException``) whose text is one clear line, so the
component can exit 1 with it and nothing else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pendulum
from keboola.component.exceptions import UserException

from tap_daktela.dates import parse_date_setting
from tap_daktela.errors import DaktelaConfigError

log = logging.getLogger(__name__)

#: The seed's 15 endpoints, in its order; the tap serves at least these.
ENDPOINTS: tuple[str, ...] = (
    "accounts",
    "activities",
    "activitiesCall",
    "activitiesChat",
    "activitiesEmail",
    "campaignsRecords",
    "contacts",
    "crmRecords",
    "groups",
    "pauses",
    "queues",
    "statuses",
    "templates",
    "tickets",
    "users",
)

#: Streams whose reads are limited to date_from..date_to (SPEC section 3); the others read in full, then by bookmark.
WINDOWED: frozenset[str] = frozenset(
    {"tickets", "contacts", "activities", "activitiesCall", "activitiesChat", "activitiesEmail"}
)

# Seed defaults (README "Advanced Settings" and configSchema.json).
DEFAULT_DATE_FROM = "7 days ago"
DEFAULT_DATE_TO = "today"
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 1000  # Daktela's maximum `take`; larger values are capped with a log line, as the seed does
DEFAULT_MAX_CONCURRENT_REQUESTS = 10
MAX_CONCURRENT_REQUESTS = 50
DEFAULT_MAX_CONCURRENT_ENDPOINTS = 3
MAX_CONCURRENT_ENDPOINTS = 20


class ConfigError(UserException):
    """A configuration problem the user can fix; its message is one line."""


@dataclass(frozen=True)
class EndpointSelection:
    """One configured endpoint and its chosen fields (empty = all fields)."""

    endpoint: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The validated configuration; the password is kept out of repr so it can never reach a log."""

    url: str
    username: str
    password: str = field(repr=False)
    verify_ssl: bool = True
    date_from: str = DEFAULT_DATE_FROM
    date_to: str = DEFAULT_DATE_TO
    endpoints: tuple[EndpointSelection, ...] = ()
    incremental: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    max_concurrent_endpoints: int = DEFAULT_MAX_CONCURRENT_ENDPOINTS
    debug: bool = False


# ------------------------------------------------------------------------------------------------ dates

_LEGACY_DAYS = re.compile(r"^-(\d+)$")  # the seed's sample config uses "-7" for "7 days ago"


def normalize_date(value: str) -> str:
    """Return the phrase the tap understands (the seed's legacy "-N" becomes "N days ago")."""
    text = " ".join(value.strip().split())
    legacy = _LEGACY_DAYS.match(text)
    if legacy:
        return f"{int(legacy.group(1))} days ago"
    return text


def resolve_date(value: str, now: datetime) -> datetime:
    """Resolve a date setting to an aware datetime for validation; raises ValueError when unparseable.

    The grammar is the tap's own (`tap_daktela.dates`), resolved here in UTC: close enough to catch typos and an
    inverted window before any request; the tap resolves the same phrase in the instance's zone.
    """
    try:
        return parse_date_setting(normalize_date(value), setting="date", tz="UTC", now=pendulum.instance(now))
    except DaktelaConfigError as exc:
        raise ValueError(str(exc)) from None


# ------------------------------------------------------------------------------------------------ parsing


def _section(params: dict[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"Invalid configuration: '{name}' must be an object.")
    return value


def _bool(section: dict[str, Any], key: str, path: str, default: bool) -> bool:
    value = section.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"Invalid configuration: '{path}' must be true or false, got {value!r}.")
    return value


def _int(section: dict[str, Any], key: str, path: str, default: int, low: int, high: int | None) -> int:
    value = section.get(key, default)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"Invalid configuration: '{path}' must be an integer, got {value!r}.")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"Invalid configuration: '{path}' must be {bounds}, got {value}.")
    return value


def _required_str(section: dict[str, Any], key: str, path: str) -> str:
    value = section.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"Missing required parameter '{path}'.")
    if not isinstance(value, str):
        raise ConfigError(f"Invalid configuration: '{path}' must be a string.")
    return value.strip()


def _endpoints(raw: Any, *, required: bool) -> tuple[EndpointSelection, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ConfigError("Invalid configuration: 'data_selection.endpoints' must be a list.")
    selections: list[EndpointSelection] = []
    seen: set[str] = set()
    for item in raw:
        if isinstance(item, str):  # the seed's earlier shape: a plain list of names
            name, fields = item, []
        elif isinstance(item, dict):
            name, fields = item.get("endpoint"), item.get("fields") or []
        else:
            raise ConfigError(f"Invalid configuration: endpoint entry {item!r} must be an object with 'endpoint'.")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("Invalid configuration: every item of 'data_selection.endpoints' needs an 'endpoint'.")
        name = name.strip()
        if name not in ENDPOINTS:
            raise ConfigError(f"Unknown endpoint '{name}'; valid endpoints: {', '.join(ENDPOINTS)}.")
        if name in seen:
            raise ConfigError(f"Endpoint '{name}' is configured more than once.")
        seen.add(name)
        if not isinstance(fields, list) or not all(isinstance(f, str) and f.strip() for f in fields):
            raise ConfigError(f"Invalid configuration: 'fields' of endpoint '{name}' must be a list of field names.")
        selections.append(EndpointSelection(name, tuple(dict.fromkeys(f.strip() for f in fields))))
    if required and not selections:
        raise ConfigError("No endpoints selected: add at least one item to 'data_selection.endpoints'.")
    return tuple(selections)


def parse_config(params: dict[str, Any], *, require_endpoints: bool = True, now: datetime | None = None) -> Config:
    """Validate ``parameters`` of config.json into a Config; raise ConfigError with one line on the first problem."""
    if not isinstance(params, dict):
        raise ConfigError("Invalid configuration: 'parameters' must be an object.")
    connection = _section(params, "connection")
    selection = _section(params, "data_selection")
    destination = _section(params, "destination")
    advanced = _section(params, "advanced")

    url = _required_str(connection, "url", "connection.url")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"Invalid configuration: 'connection.url' must start with https:// (got '{url}').")
    username = _required_str(connection, "username", "connection.username")
    password = connection.get("#password")
    if not isinstance(password, str) or not password:
        raise ConfigError("Missing required parameter 'connection.#password'.")
    verify_ssl = _bool(connection, "verify_ssl", "connection.verify_ssl", True)

    now = now or datetime.now(UTC)
    dates: dict[str, tuple[str, datetime]] = {}
    for key, default in (("date_from", DEFAULT_DATE_FROM), ("date_to", DEFAULT_DATE_TO)):
        value = selection.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            value = default
        if not isinstance(value, str):
            raise ConfigError(f"Invalid configuration: 'data_selection.{key}' must be a string, got {value!r}.")
        try:
            dates[key] = (normalize_date(value), resolve_date(value, now))
        except ValueError:
            raise ConfigError(
                f"Invalid date in 'data_selection.{key}': '{value}' (use e.g. 'today', 'yesterday', "
                "'7 days ago', '2024-01-31' or '2024-01-31T08:00:00')."
            ) from None
    if dates["date_from"][1] > dates["date_to"][1]:
        raise ConfigError(
            f"Invalid date range: 'data_selection.date_from' ({dates['date_from'][0]}) is after "
            f"'data_selection.date_to' ({dates['date_to'][0]})."
        )

    endpoints = _endpoints(selection.get("endpoints"), required=require_endpoints)
    incremental = _bool(destination, "incremental", "destination.incremental", False)

    batch_size = _int(advanced, "batch_size", "advanced.batch_size", DEFAULT_BATCH_SIZE, 1, None)
    if batch_size > MAX_BATCH_SIZE:
        log.info("batch_size %d is above the Daktela API maximum; using %d.", batch_size, MAX_BATCH_SIZE)
        batch_size = MAX_BATCH_SIZE
    max_requests = _int(
        advanced,
        "max_concurrent_requests",
        "advanced.max_concurrent_requests",
        DEFAULT_MAX_CONCURRENT_REQUESTS,
        1,
        MAX_CONCURRENT_REQUESTS,
    )
    max_endpoints = _int(
        advanced,
        "max_concurrent_endpoints",
        "advanced.max_concurrent_endpoints",
        DEFAULT_MAX_CONCURRENT_ENDPOINTS,
        1,
        MAX_CONCURRENT_ENDPOINTS,
    )
    debug = _bool(params, "debug", "debug", False)

    return Config(
        url=url.rstrip("/"),
        username=username,
        password=password,
        verify_ssl=verify_ssl,
        date_from=dates["date_from"][0],
        date_to=dates["date_to"][0],
        endpoints=endpoints,
        incremental=incremental,
        batch_size=batch_size,
        max_concurrent_requests=max_requests,
        max_concurrent_endpoints=max_endpoints,
        debug=debug,
    )


def parse_selection(params: dict[str, Any]) -> tuple[EndpointSelection, ...]:
    """Only the endpoint list, for field discovery, which needs neither credentials nor dates."""
    selection = _section(params if isinstance(params, dict) else {}, "data_selection")
    return _endpoints(selection.get("endpoints"), required=False)
