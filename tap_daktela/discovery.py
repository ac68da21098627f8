"""Live discovery: each stream's schema as the customer's instance has it.

The committed schemas come from Daktela's generic API document; every instance differs. For each stream one
request reads a sample of up to `SAMPLE_SIZE` recent records (all streams concurrently, each bounded in time),
and the schema becomes the static one plus:
- every top-level field seen in the sample that it lacks, typed from the values seen, always nullable;
- the instance's custom fields as declared properties of `customFields`: names from `_sys.cfScheme` where records
  carry it, else the keys of `customFields` (their union over the sample: records of one model can differ);
  `"multiple": false` gives a nullable string, anything else an array of strings.
Daktela's internals (`_sys`, `_rdata`, `_guiData`) stay out. An endpoint answering 403 or 404 keeps its static
schema with a warning, and an unreachable instance (or one refusing the login) gives the static schemas with one
warning: discovery never fails for them. The sample is also the stream's learning request of a run that discovers
its catalog: the fields it showed become the stream's `instance_facts`, so its sync reads only the data.
"""

from __future__ import annotations

import copy
import re
import typing as t
from concurrent.futures import ThreadPoolExecutor

import orjson
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_daktela.auth import TOKEN_HEADER, api_url, request, request_settings
from tap_daktela.endpoints import ENDPOINTS_BY_NAME
from tap_daktela.errors import DaktelaError
from tap_daktela.instance_facts import InstanceFacts, fields_of
from tap_daktela.pages import decode_list
from tap_daktela.query import ListQuery
from tap_daktela.shaping import CUSTOM_FIELDS, DROPPED_KEYS

if t.TYPE_CHECKING:
    from tap_daktela.run import DaktelaRun

SAMPLE_SIZE = 100
SAMPLE_TIMEOUT = 30.0  # seconds per sample request, at most
_DAKTELA_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class EndpointUnavailable(Exception):
    """The endpoint answered 403 or 404: its static schema is kept."""


def custom_field_schema(multiple: bool) -> dict:
    """A single-valued custom field is a string; a multi-valued one an array of strings."""
    if multiple:
        return {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
    return {"type": ["string", "null"]}


def infer_type(values: t.Iterable[t.Any]) -> dict:
    """A nullable JSON schema for the values seen of a field the static schema lacks."""
    kinds: set[str] = set()
    datetimes = True
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            kinds.add("boolean")
        elif isinstance(value, int):
            kinds.add("integer")
        elif isinstance(value, float):
            kinds.add("number")
        elif isinstance(value, str):
            kinds.add("string")
            datetimes = datetimes and bool(_DAKTELA_DATETIME.match(value))
        elif isinstance(value, dict):
            kinds.add("object")
        elif isinstance(value, list):
            kinds.add("array")
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    if kinds <= {"object", "array"} and kinds:
        if kinds == {"object"}:
            return {"type": ["object", "null"]}
        if kinds == {"array"}:
            return {"type": ["array", "null"], "items": {}}
        return {"type": ["object", "array", "null"]}
    if len(kinds) == 1:
        (kind,) = kinds
        if kind == "string" and datetimes:
            return {"type": ["string", "null"], "format": "date-time"}
        return {"type": [kind, "null"]}
    return {"type": ["string", "null"]}  # nothing seen but null, or mixed scalars: text holds them all


def custom_fields(records: list[dict]) -> dict[str, bool]:
    """Custom field name -> multiple, from `_sys.cfScheme`, else from the keys of `customFields`, in order."""
    found: dict[str, bool] = {}
    for record in records:
        internals = record.get("_sys")
        scheme = internals.get("cfScheme") if isinstance(internals, dict) else None
        if isinstance(scheme, dict):
            for name, field in scheme.items():
                multiple = not (isinstance(field, dict) and field.get("multiple") is False)
                found[name] = found.get(name, False) or multiple
    if found:
        return found
    for record in records:
        values = record.get(CUSTOM_FIELDS)
        if isinstance(values, dict):
            for name in values:
                found.setdefault(name, True)
    return found


def live_schema(static: dict, records: list[dict]) -> dict:
    """The static schema plus what the sample shows (see the module docstring)."""
    schema = copy.deepcopy(static)
    properties = schema.setdefault("properties", {})
    seen: dict[str, list[t.Any]] = {}
    for record in records:
        for name, value in record.items():
            if name not in properties and name not in DROPPED_KEYS:
                seen.setdefault(name, []).append(value)
    for name, values in seen.items():
        properties[name] = infer_type(values)
    fields = custom_fields(records)
    if fields:
        declared = properties.get(CUSTOM_FIELDS) or {}
        known = dict(declared.get("properties") or {})
        for name, multiple in fields.items():
            known.setdefault(name, custom_field_schema(multiple))
        properties[CUSTOM_FIELDS] = {"type": ["object", "null"], "properties": known}
    return schema


def what_discovery_needs(record: dict, declared: t.Container[str]) -> dict:
    """The part of a sampled record that discovery reads: every top-level name, the values of fields `declared`
    lacks, the names of its custom fields and its `cfScheme`. A real CRM record is ~310 KB with its nested copies:
    a hundred of them whole would be more memory than the run has."""
    kept: dict[str, t.Any] = {}
    for name, value in record.items():
        if name == CUSTOM_FIELDS and isinstance(value, dict):
            kept[name] = dict.fromkeys(value)
        elif name == "_sys" and isinstance(value, dict):
            kept[name] = {"cfScheme": value["cfScheme"]} if "cfScheme" in value else {}
        else:
            kept[name] = None if name in declared else value
    return kept


def sample(tap: DaktelaRun, endpoint: str, declared: t.Container[str] = ()) -> list[dict]:
    """Up to `SAMPLE_SIZE` recent records of an endpoint (one request), each as `what_discovery_needs`."""
    spec = ENDPOINTS_BY_NAME[endpoint]
    order = spec.replication_key or spec.primary_key
    query = ListQuery(sort=(order,), take=SAMPLE_SIZE, descending=True)
    settings = request_settings(tap.config)
    settings["timeout"] = min(settings["timeout"], SAMPLE_TIMEOUT)
    response = request(  # retried like any request: a 429 or 503 must not cost the stream its custom fields
        "GET",
        api_url(tap.config["url"], f"{endpoint}.json"),
        params=query.params(),
        headers={TOKEN_HEADER: tap.token_provider.token()},
        session=tap.http_session,
        **settings,
    )
    if response.status_code in (403, 404):
        raise EndpointUnavailable(f"HTTP {response.status_code}")
    response.raise_for_status()
    records = (orjson.loads(memoryview(raw)) for raw in decode_list(response.content, endpoint).raws)
    return [what_discovery_needs(record, declared) for record in records if isinstance(record, dict)]


def discover_schemas(
    tap: DaktelaRun, static: dict[str, dict], learned: dict[str, InstanceFacts] | None = None
) -> dict[str, dict]:
    """Every stream's live schema; the static ones where the instance cannot be asked (see the docstring).
    `learned` gets what each sample showed of the instance (`instance_facts`): a sync that discovered its
    catalog needs no other request to see the fields the instance sends."""
    try:
        tap.token_provider.token()
    except DaktelaError as exc:
        tap.logger.warning("Live discovery skipped, the catalog holds the static schemas: %s", exc)
        return dict(static)
    schemas = dict(static)
    unreachable: list[str] = []

    def one(endpoint: str) -> None:
        try:
            records = sample(tap, endpoint, static[endpoint].get("properties") or {})
            schemas[endpoint] = live_schema(static[endpoint], records)
            if learned is not None:
                learned[endpoint] = InstanceFacts(fields=fields_of(records))
        except EndpointUnavailable as exc:
            tap.logger.warning("Discovery: endpoint '%s' answered %s; keeping its static schema", endpoint, exc)
        except (DaktelaError, RetriableAPIError, requests.RequestException, ValueError) as exc:
            unreachable.append(f"{endpoint} ({exc if isinstance(exc, DaktelaError) else type(exc).__name__})")

    parallel = max(1, int(tap.config.get("max_concurrent_requests", 10)))  # samples are cut as they are read
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="discover") as pool:
        list(pool.map(one, static))
    if unreachable:
        tap.logger.warning(
            "Live discovery could not read %d endpoint(s), which keep their static schemas: %s",
            len(unreachable),
            ", ".join(sorted(unreachable)),
        )
    return schemas
