"""Translate the validated configuration into what the tap reads: a tap config and a one-stream catalog.

Discovery is static in the tap (no API call), so the catalog is known before any request; field names are
checked against it and the table's columns are computed from it, never from the first record.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .configuration import WINDOWED, Config, ConfigError, EndpointSelection
from .launcher import Starter

LOGGER = logging.getLogger(__name__)


class TapError(Exception):
    """The tap could not even describe its streams (an installation problem, not a user error)."""


def discover(config: Config, starter: Starter, *, timeout: float = 25) -> dict[str, Any]:
    """Run `tap-daktela --discover` (no API request) and return the catalog of all streams."""
    settings = {"url": config.url, "username": config.username, "password": config.password}
    with tempfile.TemporaryDirectory(prefix="kbc-daktela-") as tmp:
        work = Path(tmp)
        write_private_json(work / "discover.json", settings)
        with open(os.devnull, "rb") as nothing, (work / "out").open("wb") as out, (work / "err").open("wb") as err:
            process = starter.start(
                "tap-daktela",
                ["--config", str(work / "discover.json"), "--discover"],
                stdin=nothing.fileno(),
                stdout=out.fileno(),
                stderr=err.fileno(),
                env=dict(os.environ),
                cwd=work,
            )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise TapError(f"tap-daktela --discover did not answer within {timeout:g} s") from None
        if code != 0:
            tail = (work / "err").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise TapError(f"tap-daktela --discover failed (exit {code}): {tail[0]}")
        return json.loads((work / "out").read_text())


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON readable only by this user: tap configs carry the token."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def streams_by_id(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Index the catalog's stream entries by tap_stream_id."""
    return {entry["tap_stream_id"]: entry for entry in catalog.get("streams", [])}


def stream_fields(entry: dict[str, Any]) -> list[str]:
    """The API fields a user may pick for this stream (top-level schema properties, in schema order)."""
    return list(entry.get("schema", {}).get("properties", {}))


def _stream_metadata(entry: dict[str, Any]) -> dict[str, Any]:
    for item in entry.get("metadata", []):
        if item.get("breadcrumb") == []:
            return item.setdefault("metadata", {})
    item = {"breadcrumb": [], "metadata": {}}
    entry.setdefault("metadata", []).append(item)
    return item["metadata"]


def key_properties(entry: dict[str, Any]) -> list[str]:
    """Primary key of a stream, from the entry or its stream-level metadata."""
    return list(entry.get("key_properties") or _stream_metadata(copy.deepcopy(entry)).get("table-key-properties") or [])


def replication_key(entry: dict[str, Any]) -> str | None:
    """Replication key of a stream (None for full-table streams)."""
    meta = _stream_metadata(copy.deepcopy(entry))
    keys = meta.get("valid-replication-keys") or []
    return entry.get("replication_key") or (keys[0] if keys else None)


def select_stream(entry: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of the stream entry selected for extraction, with only `fields` (plus keys) selected.

    Empty `fields` selects every property. Unknown field names (the seed's own examples name fields such as
    `phone` that Daktela does not have) are ignored with a warning that lists the valid ones.
    """
    entry = copy.deepcopy(entry)
    stream = entry["tap_stream_id"]
    properties = entry.get("schema", {}).get("properties", {})
    unknown = [name for name in fields if name not in properties]
    if unknown:
        LOGGER.warning(
            "Ignoring unknown field(s) %s of endpoint '%s'; valid fields: %s.",
            ", ".join(repr(u) for u in unknown),
            stream,
            ", ".join(properties),
        )
        fields = tuple(name for name in fields if name in properties)
    always = set(key_properties(entry))
    rk = replication_key(entry)
    if rk:
        always.add(rk)
    wanted = set(fields) | always if fields else set(properties)

    _stream_metadata(entry)["selected"] = True
    seen: set[str] = set()
    for item in entry["metadata"]:
        crumb = item.get("breadcrumb") or []
        if len(crumb) == 2 and crumb[0] == "properties":
            seen.add(crumb[1])
            item.setdefault("metadata", {})["selected"] = crumb[1] in wanted
            if crumb[1] in always:
                item["metadata"]["inclusion"] = "automatic"
    for name in properties:
        if name not in seen:
            meta = {"selected": name in wanted}
            if name in always:
                meta["inclusion"] = "automatic"
            entry["metadata"].append({"breadcrumb": ["properties", name], "metadata": meta})
    return entry


def selected_schema(entry: dict[str, Any]) -> dict[str, Any]:
    """The stream schema restricted to selected properties, in schema order (what the tap will send)."""
    selected = {
        item["breadcrumb"][1]
        for item in entry.get("metadata", [])
        if len(item.get("breadcrumb") or []) == 2
        and (item["metadata"].get("selected") or item["metadata"].get("inclusion") == "automatic")
        and item["metadata"].get("inclusion") != "unsupported"
    }
    schema = copy.deepcopy(entry.get("schema", {}))
    schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k in selected}
    return schema


def flat_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The tap's own flattening of a schema, so columns match what `flatten_records: true` emits."""
    from tap_daktela.flattening import flatten_schema  # the tap owns the flattening rules

    return flatten_schema(schema)


@dataclass(frozen=True)
class StreamPlan:
    """Everything one pipeline needs: tap settings, one-stream catalog, the stream's state and its keys."""

    endpoint: str
    tap_config: dict[str, Any]
    catalog: dict[str, Any]
    state: dict[str, Any] | None
    primary_key: tuple[str, ...]
    replication_key: str | None
    schema: dict[str, Any]


def tap_settings(
    config: Config, endpoint: str, token: str, requests_share: int, timezone: str | None = None
) -> dict[str, Any]:
    """Tap config for one endpoint: the shared token and time zone, page size, request share, and the window."""
    settings: dict[str, Any] = {
        "url": config.url,
        "access_token": token,
        "page_size": config.batch_size,
        "max_concurrent_requests": requests_share,
        "verify_ssl": config.verify_ssl,
        "flatten_records": True,
    }
    if timezone:
        settings["timezone"] = timezone
    if endpoint in WINDOWED:
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
    catalog_streams: dict[str, dict[str, Any]],
    token: str,
    requests_share: int,
    previous_state: dict[str, Any],
    timezone: str | None = None,
) -> StreamPlan:
    """Build the plan of one endpoint's pipeline."""
    entry = catalog_streams.get(selection.endpoint)
    if entry is None:
        raise ConfigError(
            f"Unknown endpoint '{selection.endpoint}'; the tap offers: {', '.join(sorted(catalog_streams))}."
        )
    selected = select_stream(entry, selection.fields)
    return StreamPlan(
        endpoint=selection.endpoint,
        tap_config=tap_settings(config, selection.endpoint, token, requests_share, timezone),
        catalog={"streams": [selected]},
        state=stream_state(selection.endpoint, previous_state, config.incremental),
        primary_key=tuple(key_properties(selected)),
        replication_key=replication_key(selected),
        schema=selected_schema(selected),
    )


def requests_share(budget: int, endpoints: int, max_parallel: int) -> int:
    """Split the request budget evenly across the pipelines that run at once (each gets at least one)."""
    running = max(1, min(endpoints, max_parallel))
    return max(1, budget // running)
