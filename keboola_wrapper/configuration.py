"""Parse and validate the Keboola configuration before any request is made.

Two shapes are accepted and give the same tables for the same endpoint and window:

- the list shape: `connection`, `data_selection.{date_from, date_to, nested_objects, endpoints[{endpoint, fields}]}`,
  `destination.incremental`, `advanced`, `debug`;
- the row shape of Keboola configuration rows (one endpoint per row, run as its own job): the row's `endpoint`,
  `date_from`, `date_to`, `fields`, `nested_objects` and `destination.{load_type, primary_key}` merged at the top
  level of `parameters` beside the configuration's `connection`, `advanced` and `debug`.

Which endpoints exist, which are windowed and their keys come from the tap's endpoint table
(`tap_daktela.endpoints.ENDPOINTS`); nothing here repeats it. Every problem a user can fix raises ``ConfigError``
(a ``UserException``) whose text is one clear line, so the component can exit 1 with it and nothing else.
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
from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME
from tap_daktela.errors import DaktelaConfigError
from tap_daktela.query import MAX_PAGE_SIZE
from tap_daktela.references import DEFAULT_NESTED_OBJECTS_MODE, NESTED_OBJECTS_MODES
from tap_daktela.unknown_settings import unknown_setting_warnings

log = logging.getLogger(__name__)

# Defaults of the production component's configuration.
DEFAULT_DATE_FROM = "7 days ago"
DEFAULT_DATE_TO = "today"
DEFAULT_BATCH_SIZE = MAX_PAGE_SIZE
DEFAULT_MAX_CONCURRENT_REQUESTS = 10
MAX_CONCURRENT_REQUESTS = 50
DEFAULT_MAX_CONCURRENT_ENDPOINTS = 3
MAX_CONCURRENT_ENDPOINTS = 20
LOAD_TYPES = {"full_load": False, "incremental_load": True}  # a row's destination.load_type -> incremental
PEM_START = "-----BEGIN"

# Every key of `parameters` by where it sits ("" = the top level, both shapes' keys): the keys this module reads and
# the UI's sync-action buttons (`test_connection`, `discover_fields`), as component_config/config*Schema.json
# declare them. Anything else gets one warning naming the closest of these (a typo would otherwise be ignored).
KNOWN_SETTINGS: dict[str, tuple[str, ...]] = {
    # the list shape's sections, then a configuration row's own keys
    "": (
        *("connection", "data_selection", "destination", "advanced", "debug"),
        *("endpoint", "date_from", "date_to", "fields", "nested_objects", "discover_fields"),
    ),
    "connection": ("url", "username", "#password", "verify_ssl", "ca_bundle", "test_connection"),
    "data_selection": ("date_from", "date_to", "nested_objects", "endpoints", "discover_fields"),
    "data_selection.endpoints[]": ("endpoint", "fields"),
    "destination": ("incremental", "load_type", "primary_key"),
    "advanced": ("batch_size", "max_concurrent_requests", "max_concurrent_endpoints"),
}


class ConfigError(UserException):
    """A configuration problem the user can fix; its message is one line."""


def endpoint_names() -> tuple[str, ...]:
    """Every endpoint the tap reads, in the table's order."""
    return tuple(endpoint.name for endpoint in ENDPOINTS)


@dataclass(frozen=True)
class EndpointSelection:
    """One configured endpoint, its chosen fields (empty = all fields) and a row's own primary key (empty = the
    stream's key)."""

    endpoint: str
    fields: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The validated configuration; the password is kept out of repr so it can never reach a log.

    `ca_bundle` is as configured: PEM text (starting with `-----BEGIN`) or the path of a PEM file.
    """

    url: str
    username: str
    password: str = field(repr=False)
    verify_ssl: bool = True
    ca_bundle: str | None = None
    date_from: str = DEFAULT_DATE_FROM
    date_to: str = DEFAULT_DATE_TO
    endpoints: tuple[EndpointSelection, ...] = ()
    incremental: bool = False
    nested_objects: str = DEFAULT_NESTED_OBJECTS_MODE
    batch_size: int = DEFAULT_BATCH_SIZE
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    max_concurrent_endpoints: int = DEFAULT_MAX_CONCURRENT_ENDPOINTS
    debug: bool = False


# ------------------------------------------------------------------------------------------------ dates

_LEGACY_DAYS = re.compile(r"^-(\d+)$")  # older configurations use "-7" for "7 days ago"


def normalize_date(value: str) -> str:
    """Return the phrase the tap understands (the legacy "-N" becomes "N days ago")."""
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


def _optional_str(section: dict[str, Any], key: str, path: str) -> str | None:
    value = section.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"Invalid configuration: '{path}' must be a string, got {value!r}.")
    return value.strip()


def _endpoint_name(name: Any, path: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"Invalid configuration: '{path}' must name an endpoint.")
    name = name.strip()
    if name not in ENDPOINTS_BY_NAME:
        raise ConfigError(f"Unknown endpoint '{name}'; valid endpoints: {', '.join(endpoint_names())}.")
    return name


def _fields(fields: Any, name: str) -> tuple[str, ...]:
    if fields is None:
        return ()
    if not isinstance(fields, list) or not all(isinstance(f, str) and f.strip() for f in fields):
        raise ConfigError(f"Invalid configuration: 'fields' of endpoint '{name}' must be a list of field names.")
    return tuple(dict.fromkeys(f.strip() for f in fields))


def _is_row(params: dict[str, Any]) -> bool:
    """A configuration row names its one endpoint at the top level of `parameters`."""
    return "endpoint" in params


def _row_selection(params: dict[str, Any]) -> EndpointSelection:
    listed = _section(params, "data_selection").get("endpoints")
    if listed:
        raise ConfigError(
            "Invalid configuration: give either a row's 'endpoint' or the list 'data_selection.endpoints', not both."
        )
    name = _endpoint_name(params.get("endpoint"), "endpoint")
    destination = _section(params, "destination")
    primary_key = destination.get("primary_key")
    if isinstance(primary_key, str):
        primary_key = [primary_key]
    if primary_key is None:
        primary_key = []
    if not isinstance(primary_key, list) or not all(isinstance(c, str) and c.strip() for c in primary_key):
        raise ConfigError("Invalid configuration: 'destination.primary_key' must be a list of column names.")
    return EndpointSelection(
        name, _fields(params.get("fields"), name), tuple(dict.fromkeys(c.strip() for c in primary_key))
    )


def _list_selections(raw: Any, *, required: bool) -> tuple[EndpointSelection, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ConfigError("Invalid configuration: 'data_selection.endpoints' must be a list.")
    selections: list[EndpointSelection] = []
    seen: set[str] = set()
    for item in raw:
        if isinstance(item, str):  # an earlier shape: a plain list of names
            name, fields = item, []
        elif isinstance(item, dict):
            name, fields = item.get("endpoint"), item.get("fields")
        else:
            raise ConfigError(f"Invalid configuration: endpoint entry {item!r} must be an object with 'endpoint'.")
        name = _endpoint_name(name, "data_selection.endpoints[].endpoint")
        if name in seen:
            raise ConfigError(f"Endpoint '{name}' is configured more than once.")
        seen.add(name)
        selections.append(EndpointSelection(name, _fields(fields, name)))
    if required and not selections:
        raise ConfigError("No endpoints selected: add at least one item to 'data_selection.endpoints'.")
    return tuple(selections)


def parse_selection(params: Any, *, required: bool = False) -> tuple[EndpointSelection, ...]:
    """The configured endpoints of either shape; needs neither credentials nor dates (field discovery uses it)."""
    params = params if isinstance(params, dict) else {}
    if _is_row(params):
        return (_row_selection(params),)
    return _list_selections(_section(params, "data_selection").get("endpoints"), required=required)


def _window_setting(params: dict[str, Any], selection: dict[str, Any], key: str) -> tuple[Any, str]:
    """A row's own `date_from`/`date_to`/`nested_objects` (top level), else the list shape's `data_selection.*`."""
    if _is_row(params) and params.get(key) is not None:
        return params[key], key
    return selection.get(key), f"data_selection.{key}"


def _incremental(params: dict[str, Any]) -> bool:
    """`destination.load_type` (rows: full_load | incremental_load) wins over `destination.incremental`."""
    destination = _section(params, "destination")
    load_type = destination.get("load_type")
    if load_type is None:
        return _bool(destination, "incremental", "destination.incremental", False)
    if load_type not in LOAD_TYPES:
        raise ConfigError(
            f"Invalid configuration: 'destination.load_type' must be one of {', '.join(LOAD_TYPES)}, got {load_type!r}."
        )
    return LOAD_TYPES[load_type]


def unknown_settings(params: dict[str, Any]) -> list[str]:
    """One warning per key of `parameters` (and of its sections) that `KNOWN_SETTINGS` does not list."""
    warnings = unknown_setting_warnings(params, KNOWN_SETTINGS[""])
    for where, known in KNOWN_SETTINGS.items():
        if not where:
            continue
        section, items, _ = where.partition("[]")
        value = params
        for part in section.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        for entry in value if items and isinstance(value, list) else [value]:
            if isinstance(entry, dict):
                warnings += unknown_setting_warnings(entry, known, f"{where}.")
    return list(dict.fromkeys(warnings))


def parse_config(params: dict[str, Any], *, require_endpoints: bool = True, now: datetime | None = None) -> Config:
    """Validate ``parameters`` of config.json into a Config; raise ConfigError with one line on the first problem.
    A key it does not know is a warning (see `KNOWN_SETTINGS`), never an error."""
    if not isinstance(params, dict):
        raise ConfigError("Invalid configuration: 'parameters' must be an object.")
    for warning in unknown_settings(params):
        log.warning("%s", warning)
    connection = _section(params, "connection")
    selection = _section(params, "data_selection")
    advanced = _section(params, "advanced")

    url = _required_str(connection, "url", "connection.url")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"Invalid configuration: 'connection.url' must start with https:// (got '{url}').")
    username = _required_str(connection, "username", "connection.username")
    password = connection.get("#password")
    if not isinstance(password, str) or not password:
        raise ConfigError("Missing required parameter 'connection.#password'.")
    verify_ssl = _bool(connection, "verify_ssl", "connection.verify_ssl", True)
    ca_bundle = _optional_str(connection, "ca_bundle", "connection.ca_bundle")

    now = now or datetime.now(UTC)
    dates: dict[str, tuple[str, datetime]] = {}
    paths: dict[str, str] = {}
    for key, default in (("date_from", DEFAULT_DATE_FROM), ("date_to", DEFAULT_DATE_TO)):
        value, paths[key] = _window_setting(params, selection, key)
        if value is None or (isinstance(value, str) and not value.strip()):
            value = default
        if not isinstance(value, str):
            raise ConfigError(f"Invalid configuration: '{paths[key]}' must be a string, got {value!r}.")
        try:
            dates[key] = (normalize_date(value), resolve_date(value, now))
        except ValueError:
            raise ConfigError(
                f"Invalid date in '{paths[key]}': '{value}' (use e.g. 'today', 'yesterday', "
                "'7 days ago', '2024-01-31' or '2024-01-31T08:00:00')."
            ) from None
    if dates["date_from"][1] > dates["date_to"][1]:
        raise ConfigError(
            f"Invalid date range: '{paths['date_from']}' ({dates['date_from'][0]}) is after "
            f"'{paths['date_to']}' ({dates['date_to'][0]})."
        )
    nested, nested_path = _window_setting(params, selection, "nested_objects")
    nested = DEFAULT_NESTED_OBJECTS_MODE if nested is None or nested == "" else nested
    if nested not in NESTED_OBJECTS_MODES:
        raise ConfigError(f"Invalid configuration: '{nested_path}' must be 'keys' or 'full', got {nested!r}.")

    endpoints = parse_selection(params, required=require_endpoints)
    incremental = _incremental(params)

    batch_size = _int(advanced, "batch_size", "advanced.batch_size", DEFAULT_BATCH_SIZE, 1, None)
    if batch_size > MAX_PAGE_SIZE:
        log.info("batch_size %d is above the Daktela API maximum; using %d.", batch_size, MAX_PAGE_SIZE)
        batch_size = MAX_PAGE_SIZE
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
        ca_bundle=ca_bundle,
        date_from=dates["date_from"][0],
        date_to=dates["date_to"][0],
        endpoints=endpoints,
        incremental=incremental,
        nested_objects=nested,
        batch_size=batch_size,
        max_concurrent_requests=max_requests,
        max_concurrent_endpoints=max_endpoints,
        debug=debug,
    )
