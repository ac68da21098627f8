"""Generate `tap_daktela/schemas/*.json` from Daktela's OpenAPI read schemas.

Run: `python -m scripts.generate_schemas [path/to/openapi.json [out_dir]]`. The output is committed; the tap never
reads the OpenAPI file at run time. Rules (facts about Daktela's API and its real responses):
- every field is nullable except the primary key; enums are dropped (instances add values);
- naive Daktela datetimes become `format: date-time` (the tap converts them to ISO 8601 with offset);
- foreign keys are declared one level deep (their scalar fields typed), deeper ones are free-form objects;
- many-to-many arrays, `customFields`, `options` and other free-form values are declared permissively,
  because PHP sends an empty object as `[]`;
- where real samples disagree with the OpenAPI file, samples win (an activity's `item` is an object).

It also writes `references.json`: `{stream: {path: {"streams": [...], "many": bool}}}`. A path is a property
(`user`) or a dotted path into objects whose model has no stream (`connector.user`, `external_contact.crm_contact`):
a reference is a `$ref` (directly, in anyOf/oneOf, or as array `items`) to the read schema of one of our streams, at
any depth; a ref to a model without a stream (a connector, an NPS survey, ...) is followed into its properties, an
array of them too (the path does not mark the array). The facts the document lacks come from the samples
(OBSERVED_REFERENCES).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME

PREFIX = "Daktela.Corm."
SCHEMA_REFS = {
    "accounts": "Crm.Account-2",
    "activities": "Activities.Activity-2",
    "activitiesCall": "Activities.Calls.CallItem-2",
    "activitiesChat": "Activities.Web.WebItem-2",
    "activitiesEmail": "Activities.Emails.EmailItem-2",
    "activitiesFbm": "Activities.FBM.FBMItem-2",
    "activitiesIgdm": "Activities.IGDM.IGDMItem-2",
    "activitiesSms": "Activities.SMS.SMSItem-2",
    "activitiesVbr": "Activities.VBR.VBRItem-2",
    "activitiesWap": "Activities.WAP.WAPItem-2",
    "activitiesWeb": "Activities.Web.WebItem-2",
    "campaignsRecords": "Campaigns.Record-2",
    "campaignsTypes": "Campaigns.Type-2",
    "contacts": "Crm.Contact-2",
    "crmRecords": "Crm.Record-2",
    "groups": "Groups.Group-2",
    "pauses": "Pauses.Pause-2",
    "queues": "Queues.Queue-2",
    "statuses": "Statuses.Status-2",
    "templates": "Templates.Template-2",
    "tickets": "Tickets.Ticket-2",
    "ticketsCategories": "Tickets.Category-2",
    "users": "Users.User-2",
    # models that records point to (`_sys.model` names the endpoint), the knowledge base, live state, transcripts
    "activitiesCallTranscripts": "Activities.Calls.Transcript-2",
    "articles": "Articles.Article-2",
    "articlesFolders": "Articles.Folder-2",
    "articlesTags": "Articles.Tag-2",
    "crmDatabases": "Crm.Database-2",
    "crmRecordsTypes": "Crm.Records.Type-2",
    "databases": "Campaigns.Database-2",
    "profiles": "Profiles.Profile-2",
    "realtimeSessions": "Dmr.Realtime.Session-2",
    "roles": "Roles.Role-2",
    "ticketsSla": "Tickets.SLA-2",
    "timegroups": "TimeGroups.TimeGroup-2",
}
assert {endpoint.name for endpoint in ENDPOINTS} == set(SCHEMA_REFS), "every endpoint needs its read schema"
# Read schemas the OpenAPI document lacks, as Daktela's official clients read the records (MCP server and the
# `mcp-daktela` client: a transcript is one speaker's segment of a call's activity, `type` customer/operator).
DOCUMENTED_COMPONENTS = {
    PREFIX + "Activities.Calls.Transcript-2": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Unique name"},
            "activity": {"anyOf": [{"$ref": f"#/components/schemas/{PREFIX}Activities.Activity-2"}, {"type": "null"}]},
            "start": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "Time the segment starts"},
            "end": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "Time the segment ends"},
            "text": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "What was said"},
            "type": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "Speaker: customer or operator"},
        },
    },
}
# The stream whose records a component describes; activitiesChat only borrows the web-chat model.
STREAM_OF_COMPONENT = {PREFIX + ref: stream for stream, ref in SCHEMA_REFS.items() if stream != "activitiesChat"}
# activitiesChat is the legacy (2019) web-chat model, web chat is activitiesWeb now; it keeps these web-model fields.
CHAT_FIELDS = (
    *("name", "title", "email", "phone", "wait_time", "duration", "answered", "disconnection", "time"),
    *("missed", "missed_time", "queue", "user", "contact", "options"),
)
FREE_FORM = {"type": ["object", "array", "null"]}
FREE_ARRAY = {"type": ["array", "null"], "items": {}}
BOOLEAN = {"type": ["boolean", "null"]}
INTEGER = {"type": ["integer", "null"]}
STRING = {"type": ["string", "null"]}
# Keys seen in real responses or listed by Daktela's official docs for the web chat, but missing
# from the OpenAPI read schemas. Not `_sys`, `_rdata`, `_guiData` (bookkeeping) nor `_access` (single GET only).
OBSERVED_EXTRA = {
    "activities": {"item": FREE_FORM, "anonymized": BOOLEAN, "attachments": FREE_ARRAY},
    "activitiesCall": {"hold_time": INTEGER, "activities": FREE_ARRAY},
    "activitiesChat": {"activities": FREE_ARRAY, "missed": STRING},
    "activitiesEmail": {"files": FREE_ARRAY, "attachments": FREE_ARRAY, "activities": FREE_ARRAY},
    "activitiesWeb": {
        "routing_duration": INTEGER,
        **dict.fromkeys(("host", "referer", "refererLast", "browser", "language", "ipaddress"), STRING),
        **dict.fromkeys(("mobileDevice", "privateMode", "hasFocus", "isVisible", "gdpr"), BOOLEAN),
        **dict.fromkeys(("users", "customer", "customFields"), FREE_FORM),
        "activities": FREE_ARRAY,
        "heartbeat": {"type": ["string", "null"], "format": "date-time"},
    },
    # the messaging channels link their activities like e-mails and calls do
    **{
        stream: {"activities": FREE_ARRAY}
        for stream in ("activitiesFbm", "activitiesIgdm", "activitiesSms", "activitiesVbr", "activitiesWap")
    },
    "campaignsTypes": {"color": STRING, "icon": STRING},
    "crmDatabases": {"contactsCFScheme": FREE_FORM},  # a category's `default_crm_database` (2024 sample)
    "timegroups": {"crons": FREE_ARRAY, "groups": FREE_ARRAY},  # a category's `timecondition` (2026 sample)
    "tickets": {"isFollowed": BOOLEAN, "isFollowedRead": BOOLEAN},
    "users": {"deleted": BOOLEAN, "backoffice_user": BOOLEAN},
}
# An activity's `item` is the channel record its `type` names (samples; the document says integer).
ITEM_STREAMS = (
    *("activitiesCall", "activitiesChat", "activitiesEmail", "activitiesFbm", "activitiesIgdm"),
    *("activitiesSms", "activitiesVbr", "activitiesWap", "activitiesWeb"),
)
# References the document lacks: `item` above, and the observed `activities` arrays of the channel records.
OBSERVED_REFERENCES = {
    "activities": {"item": {"streams": list(ITEM_STREAMS), "many": False}},
    **{
        stream: {"activities": {"streams": ["activities"], "many": True}}
        for stream in ITEM_STREAMS
        if stream != "activitiesWeb"
    },
    # the web chat's `users` (official docs) are the agents in the chat
    "activitiesWeb": {
        "activities": {"streams": ["activities"], "many": True},
        "users": {"streams": ["users"], "many": True},
    },
}
DATETIME_NAME = re.compile(
    r"^(created|edited|closed|reopen|time|nextcall|first_answer|sla_change|sla_deadtime|date|last_login"
    r"|.*_time|time_.*|.*_date|.*_deadline|last_activity.*|missed_time|.*expir.*"
    r"|logintime|lastcalltime|statetime|onpause)$"  # a live session's times (when its agent entered each state)
)
NOT_DATETIME = {"time_wait_limit"}


def _variants(prop: dict) -> list[dict]:
    return prop.get("anyOf") or prop.get("oneOf") or [prop]


def _is_datetime(name: str, prop: dict) -> bool:
    text = (prop.get("description") or "").lower()
    return name not in NOT_DATETIME and (
        bool(DATETIME_NAME.match(name)) or "date of" in text or text.startswith("time ")
    )


def _scalar(name: str, prop: dict, nullable: bool) -> dict:
    types: list[str] = []
    for variant in _variants(prop):
        kind = variant.get("type")
        for one in kind if isinstance(kind, list) else [kind]:
            if one and one != "null" and one not in types:
                types.append(one)
    if types == ["string"] and _is_datetime(name, prop):
        out: dict = {"type": ["string", "null"], "format": "date-time"}
    elif not types or "object" in types or "array" in types:
        return FREE_FORM if "array" not in types or "object" in types else FREE_ARRAY
    else:
        if types == ["integer", "number"] or types == ["number", "integer"]:
            types = ["number"]
        out = {"type": [*types, "null"] if nullable or len(types) > 1 else types}
    if not nullable:
        out["type"] = [t for t in out["type"] if t != "null"]
    if prop.get("description"):
        out["description"] = prop["description"].strip()
    return out


def _refs(prop: dict) -> list[tuple[str, bool]]:
    """The components a property points to, each with whether it is an array of them."""
    found = []
    for variant in _variants(prop):
        many = variant.get("type") == "array"
        ref = _ref(variant.get("items") or {}) if many else _ref(variant)
        if ref:
            found.append((ref, many))
    return found


def _deep_references(properties: dict, components: dict, path: tuple[str, ...], seen: frozenset) -> dict:
    """`{dotted path: reference}` under `properties`: a ref to a stream's read schema ends a path, a ref to a model
    without a stream is followed into its properties (`seen` stops cycles: a connector's `production` copy)."""
    found: dict[str, dict] = {}
    for key, prop in properties.items():
        crumb = (*path, key)
        for ref, many in _refs(prop):
            if ref in STREAM_OF_COMPONENT:
                found[".".join(crumb)] = {"streams": [STREAM_OF_COMPONENT[ref]], "many": many}
                break
            if ref in components and ref not in seen:
                nested = components[ref].get("properties", {})
                found.update(_deep_references(nested, components, crumb, seen | {ref}))
    return found


def _ref(prop: dict) -> str | None:
    for variant in _variants(prop):
        if "$ref" in variant:
            return variant["$ref"].rsplit("/", 1)[-1]
    return None


def _property(name: str, prop: dict, components: dict, depth: int, nullable: bool = True) -> dict:
    ref = _ref(prop)
    if ref:
        if depth >= 1 or ref not in components:
            return FREE_FORM
        nested = components[ref]
        properties = {
            key: _property(key, value, components, depth + 1) for key, value in nested.get("properties", {}).items()
        }
        return {"type": ["object", "null"], "properties": properties}
    if name in ("customFields", "options"):
        return FREE_FORM
    kinds = {v.get("type") for v in _variants(prop)}
    if "object" in kinds:
        return FREE_FORM
    if "array" in kinds:
        return FREE_ARRAY
    return _scalar(name, prop, nullable)


def _source(endpoint: str, components: dict) -> dict:
    component = PREFIX + SCHEMA_REFS[endpoint]
    source = (components.get(component) or DOCUMENTED_COMPONENTS[component])["properties"]
    key = ENDPOINTS_BY_NAME[endpoint].primary_key
    if _ref(source.get(key, {})):  # a session's agent: the tap emits the referenced record's name as the key
        source = {**source, key: {"type": "string", "description": "The key: the referenced record's name"}}
    if endpoint == "activitiesChat":
        source = {key: value for key, value in source.items() if key in CHAT_FIELDS}
    return source


def build_schema(endpoint: str, components: dict, primary_key: str) -> dict:
    source = _source(endpoint, components)
    properties = {
        key: _property(key, value, components, depth=0, nullable=key != primary_key) for key, value in source.items()
    }
    properties.update(OBSERVED_EXTRA.get(endpoint, {}))
    for name in ENDPOINTS_BY_NAME[endpoint].added_properties:  # the snapshot time, added by the tap
        properties[name] = {"type": ["string"], "format": "date-time", "description": "When the snapshot was taken"}
    return {"type": "object", "properties": properties, "required": [primary_key]}


def build_references(endpoint: str, components: dict) -> dict:
    """`{path: {"streams": [...], "many": bool}}` for one stream, at every depth, sorted by path."""
    own = frozenset({PREFIX + SCHEMA_REFS[endpoint]})
    found = _deep_references(_source(endpoint, components), components, (), own)
    found.update(OBSERVED_REFERENCES.get(endpoint, {}))
    return {key: {"streams": sorted(ref["streams"]), "many": ref["many"]} for key, ref in sorted(found.items())}


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main(openapi_path: str = "../shared/daktela-api/openapi.json", out_dir: str | None = None) -> None:
    components = json.loads(Path(openapi_path).read_text())["components"]["schemas"]
    target = Path(out_dir) if out_dir else Path(__file__).resolve().parent.parent / "tap_daktela" / "schemas"
    references = {}
    for endpoint in ENDPOINTS:
        schema = build_schema(endpoint.name, components, endpoint.primary_key)
        _write(target / f"{endpoint.name}.json", schema)
        print(f"{endpoint.name}: {len(schema['properties'])} properties")
        if found := build_references(endpoint.name, components):
            missing = {path.split(".", 1)[0] for path in found} - set(schema["properties"])
            assert not missing, f"{endpoint.name}: references to undeclared properties {sorted(missing)}"
            references[endpoint.name] = found
    _write(target / "references.json", dict(sorted(references.items())))
    print(f"references.json: {sum(map(len, references.values()))} references in {len(references)} streams")


if __name__ == "__main__":
    main(*sys.argv[1:])
