"""Translate the validated configuration into what the tap reads: tap settings and a one-stream catalog.

Pure functions only (no request, no process, no file): the component discovers the catalog in-process with the
tap's own code, then this module selects the configured fields in it and computes the settings, state and schema
of each endpoint's pipeline. Keys and windows come from the tap's endpoint table.

Custom fields: Daktela keeps them in one object, `customFields`, whose members live discovery declares as
`customFields.properties.<name>`. A field list may name `customFields` (all of them) or `customFields.<name>`
(only those); the catalog then selects the breadcrumb `["properties", "customFields", "properties", <name>]`
and deselects the other custom fields, so only the chosen ones become `customFields_<name>` columns.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from typing import Any

from tap_daktela.endpoints import ENDPOINTS_BY_NAME
from tap_daktela.flattening import flatten_schema
from tap_daktela.shaping import CUSTOM_FIELDS

from .configuration import Config, EndpointSelection

LOGGER = logging.getLogger(__name__)

CUSTOM_PREFIX = f"{CUSTOM_FIELDS}."


def plain_catalog(catalog: Any) -> dict[str, dict[str, Any]]:
    """The tap's catalog dict (tuples, str enum members) as plain JSON data, indexed by tap_stream_id."""
    plain = json.loads(json.dumps(catalog))
    return {entry["tap_stream_id"]: entry for entry in plain.get("streams", [])}


def custom_field_names(schema: dict[str, Any]) -> list[str]:
    """Names of the custom fields a stream schema declares (none when `customFields` is free-form)."""
    custom = schema.get("properties", {}).get(CUSTOM_FIELDS) or {}
    return list(custom.get("properties") or {})


def field_names(entry: dict[str, Any]) -> list[str]:
    """The names a user may put in `fields`: top-level properties, each custom field as `customFields.<name>`."""
    schema = entry.get("schema", {})
    names: list[str] = []
    for name in schema.get("properties", {}):
        names.append(name)
        if name == CUSTOM_FIELDS:
            names += [f"{CUSTOM_PREFIX}{custom}" for custom in custom_field_names(schema)]
    return names


def _metadata(entry: dict[str, Any], breadcrumb: list[str]) -> dict[str, Any]:
    for item in entry.setdefault("metadata", []):
        if list(item.get("breadcrumb") or []) == breadcrumb:
            return item.setdefault("metadata", {})
    item = {"breadcrumb": breadcrumb, "metadata": {}}
    entry["metadata"].append(item)
    return item["metadata"]


def stream_keys(endpoint: str) -> tuple[str, ...]:
    """Primary and replication key of an endpoint: always extracted, whatever the field list says."""
    table = ENDPOINTS_BY_NAME[endpoint]
    return (table.primary_key, *([table.replication_key] if table.replication_key else []))


def select_stream(entry: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of the stream entry selected for extraction, with only `fields` (plus keys) selected.

    Empty `fields` selects every property. Unknown names (the production component's own examples name fields
    such as `phone` that Daktela does not have) are ignored with one warning that lists the valid ones.
    """
    entry = copy.deepcopy(entry)
    stream = entry["tap_stream_id"]
    schema = entry.get("schema", {})
    properties = schema.get("properties", {})
    declared_custom = custom_field_names(schema)
    top: list[str] = []
    custom: list[str] = []
    all_custom = False
    unknown: list[str] = []
    for name in fields:
        if name in properties:
            top.append(name)
            all_custom |= name == CUSTOM_FIELDS
        elif name.startswith(CUSTOM_PREFIX) and name[len(CUSTOM_PREFIX) :] in declared_custom:
            top.append(CUSTOM_FIELDS)
            custom.append(name[len(CUSTOM_PREFIX) :])
        else:
            unknown.append(name)
    if unknown:
        LOGGER.warning(
            "Ignoring unknown field(s) %s of endpoint '%s'; valid fields: %s.",
            ", ".join(repr(u) for u in unknown),
            stream,
            ", ".join(field_names(entry)),
        )
    always = set(stream_keys(stream))
    wanted = set(top) | always if top else set(properties)

    _metadata(entry, [])["selected"] = True
    for name in properties:
        meta = _metadata(entry, ["properties", name])
        meta["selected"] = name in wanted
        if name in always:
            meta["inclusion"] = "automatic"
    if custom and not all_custom:
        for name in declared_custom:
            _metadata(entry, ["properties", CUSTOM_FIELDS, "properties", name])["selected"] = name in custom
    return entry


def _is_selected(meta: dict[str, Any]) -> bool:
    if meta.get("inclusion") == "unsupported":
        return False
    return bool(meta.get("selected", True) or meta.get("inclusion") == "automatic")


def selected_schema(entry: dict[str, Any]) -> dict[str, Any]:
    """The stream schema restricted to the selected properties and custom fields, in schema order."""
    chosen: dict[tuple[str, ...], bool] = {
        tuple(item.get("breadcrumb") or []): _is_selected(item.get("metadata") or {})
        for item in entry.get("metadata", [])
    }
    schema = copy.deepcopy(entry.get("schema", {}))
    properties = {k: v for k, v in schema.get("properties", {}).items() if chosen.get(("properties", k), True)}
    custom = properties.get(CUSTOM_FIELDS)
    if isinstance(custom, dict) and custom.get("properties"):
        custom["properties"] = {
            k: v
            for k, v in custom["properties"].items()
            if chosen.get(("properties", CUSTOM_FIELDS, "properties", k), True)
        }
    schema["properties"] = properties
    return schema


def flat_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The tap's own flattening of a schema, so columns match what `flatten_records: true` emits."""
    return flatten_schema(schema)


@dataclass(frozen=True)
class StreamPlan:
    """Everything one pipeline needs: tap settings, one-stream catalog, the stream's state, keys and schema.

    `primary_key` is the table's key for the manifest: a row's own `destination.primary_key`, else the stream's.
    """

    endpoint: str
    tap_config: dict[str, Any]
    catalog: dict[str, Any]
    state: dict[str, Any] | None
    primary_key: tuple[str, ...]
    schema: dict[str, Any]


def connection_settings(
    config: Config, token: str | None, timezone: str | None = None, ca_bundle_path: str | None = None
) -> dict[str, Any]:
    """Tap settings shared by discovery and every pipeline: instance, token, TLS, time zone, nested objects."""
    settings: dict[str, Any] = {"url": config.url, "verify_ssl": config.verify_ssl}
    if token:
        settings["access_token"] = token
    if ca_bundle_path and config.verify_ssl:
        settings["ca_bundle"] = ca_bundle_path
    if timezone:
        settings["timezone"] = timezone
    settings["nested_objects"] = config.nested_objects
    return settings


def tap_settings(
    config: Config,
    endpoint: str,
    token: str,
    requests_share: int,
    timezone: str | None = None,
    ca_bundle_path: str | None = None,
) -> dict[str, Any]:
    """Tap config for one endpoint: the shared token and time zone, page size, request share, and the window."""
    settings = connection_settings(config, token, timezone, ca_bundle_path)
    settings.update(
        {
            "page_size": config.batch_size,
            "max_concurrent_requests": requests_share,
            "flatten_records": True,
            "activate_version": False,  # Keboola replaces full tables through the manifest instead
        }
    )
    if ENDPOINTS_BY_NAME[endpoint].windowed:
        settings["start_date"] = config.date_from
        settings["end_date"] = config.date_to
    return settings


def stream_state(endpoint: str, previous_state: dict[str, Any], incremental: bool) -> dict[str, Any] | None:
    """Singer state for one stream: its bookmark when resuming incrementally, else none (read the window)."""
    if not incremental:
        return None
    bookmark = (previous_state.get("bookmarks") or {}).get(endpoint)
    return {"bookmarks": {endpoint: bookmark}} if bookmark else None


def plan_stream(
    config: Config,
    selection: EndpointSelection,
    entry: dict[str, Any],
    token: str,
    requests_share: int,
    previous_state: dict[str, Any],
    timezone: str | None = None,
    ca_bundle_path: str | None = None,
) -> StreamPlan:
    """Build the plan of one endpoint's pipeline from its discovered catalog entry."""
    selected = select_stream(entry, selection.fields)
    return StreamPlan(
        endpoint=selection.endpoint,
        tap_config=tap_settings(config, selection.endpoint, token, requests_share, timezone, ca_bundle_path),
        catalog={"streams": [selected]},
        state=stream_state(selection.endpoint, previous_state, config.incremental),
        primary_key=selection.primary_key or (ENDPOINTS_BY_NAME[selection.endpoint].primary_key,),
        schema=selected_schema(selected),
    )


def requests_share(budget: int, endpoints: int, max_parallel: int) -> int:
    """Split the request budget evenly across the pipelines that run at once (each gets at least one)."""
    running = max(1, min(endpoints, max_parallel))
    return max(1, budget // running)
