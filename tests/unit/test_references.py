"""References: which nested objects point at another stream, their keys-mode schema, and key extraction."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME
from tap_daktela.references import (
    DEFAULT_NESTED_OBJECTS_MODE,
    NESTED_OBJECTS_MODES,
    Reference,
    all_references,
    key_of,
    keys_schema,
    model_reference,
    references,
    schema_for_mode,
)
from tap_daktela.streams import load_schema

# The project's shared folder sits beside the repository (on CI too; /work/shared on a developer machine).
SAMPLES = next(
    (
        folder / "daktela-api" / "samples"
        for folder in (Path(__file__).resolve().parents[3] / "shared", Path("/work/shared"))
        if (folder / "daktela-api" / "samples").is_dir()
    ),
    Path("shared/daktela-api/samples"),
)


def sample_records(name: str) -> list[dict]:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    result = json.loads(path.read_text("utf-8-sig"))["result"]
    return result.get("data", [result])


def targets(stream: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    return {prop: (ref.streams, ref.many) for prop, ref in references(stream).items()}


def test_modes():
    assert NESTED_OBJECTS_MODES == ("keys", "full")
    assert DEFAULT_NESTED_OBJECTS_MODE == "keys"


def test_ticket_references():
    assert targets("tickets") == {
        "category": (("ticketsCategories",), False),
        "contact": (("contacts",), False),
        "created_by": (("users",), False),
        "edited_by": (("users",), False),
        "followers": (("users",), True),
        "id_merge": (("tickets",), False),
        "parentTicket": (("tickets",), False),
        "statuses": (("statuses",), True),
        "user": (("users",), False),
    }


def test_activity_references_include_the_polymorphic_item():
    found = targets("activities")
    assert set(found) == {"contact", "created_by", "item", "queue", "record", "statuses", "ticket", "user"}
    assert found["record"] == (("campaignsRecords",), False)
    assert "survey" not in found  # NPS surveys have no stream
    item = references("activities")["item"]
    assert item.polymorphic and not item.many and not item.title
    assert set(item.streams) == {
        *("activitiesCall", "activitiesChat", "activitiesEmail", "activitiesFbm", "activitiesIgdm"),
        *("activitiesSms", "activitiesVbr", "activitiesWap", "activitiesWeb"),
    }
    assert item.key_fields == ("name", "id_call")  # the key most targets use first
    assert item.fields == ("name", "id_call")


def test_call_references():
    assert targets("activitiesCall") == {
        "activities": (("activities",), True),
        "contact": (("contacts",), False),
        "id_agent": (("users",), False),
        "id_queue": (("queues",), False),
        "missed_callback": (("activitiesCall",), False),
    }
    assert references("activitiesCall")["missed_callback"].key_fields == ("id_call",)


def test_other_references():
    assert targets("contacts") == {
        "account": (("accounts",), False),
        "database": (("crmDatabases",), False),
        "user": (("users",), False),
    }
    assert targets("campaignsRecords")["record_type"] == (("campaignsTypes",), False)
    assert targets("activitiesEmail")["activities"] == (("activities",), True)
    assert targets("ticketsCategories") == {
        **dict.fromkeys(("call_queue", "email_queue", "sms_queue"), (("queues",), False)),
        "default_crm_database": (("crmDatabases",), False),
        "sla": (("ticketsSla",), False),
        "timecondition": (("timegroups",), False),
    }
    assert targets("users") == {
        "profile": (("profiles",), False),
        "role": (("roles",), False),
        "sign": (("templates",), False),
    }


def test_references_to_the_models_every_record_points_to():
    """The models records embed whole (SLA, CRM and campaign databases, CRM record types, profiles, roles, time
    groups) have streams, so their references are keys too."""
    assert targets("accounts")["sla"] == (("ticketsSla",), False)
    assert targets("accounts")["database"] == (("crmDatabases",), False)
    assert targets("campaignsRecords")["database"] == (("databases",), False)
    assert targets("crmRecords")["type"] == (("crmRecordsTypes",), False)
    assert "database.record_type" not in all_references("campaignsRecords")  # inside a reference: moot
    assert references("groups") == {}
    with pytest.raises(KeyError):
        references("nope")


@pytest.mark.parametrize("stream", [endpoint.name for endpoint in ENDPOINTS])
def test_objects_without_a_stream_keep_their_declaration_except_their_references(stream):
    """An object that is no reference (a connector, an external contact, a call's `cdr`) keeps its declaration in
    keys mode, except the references inside it, which become keys."""
    schema = load_schema(stream)
    keys = keys_schema(stream, schema)["properties"]
    nested = {tuple(path.split(".")) for path in all_references(stream) if "." in path}
    for prop, declared in schema["properties"].items():
        if prop in references(stream) or "properties" not in declared:
            continue
        inside = {path[1] for path in nested if path[0] == prop}
        for child, child_declared in declared["properties"].items():
            if child in inside:
                assert keys[prop]["properties"][child]["type"][-1] == "null", (stream, prop, child)
                assert set(keys[prop]["properties"][child].get("properties") or {}) <= {"name", "id_call", "title"}
            else:
                assert keys[prop]["properties"][child] == child_declared, (stream, prop, child)


def test_references_at_every_depth():
    """Read from the read schemas' `$ref`s at every depth: a connector's user (every channel), an external contact's
    CRM contact, the web chat connector's queues and NPS template, an NPS survey's activity, user and contact."""
    for stream in (
        "activitiesSms",
        "activitiesFbm",
        "activitiesIgdm",
        "activitiesWap",
        "activitiesVbr",
        "activitiesWeb",
    ):
        assert all_references(stream)["connector.user"].streams == ("users",)
        assert all_references(stream)["connector.user"].path == ("connector", "user")
        assert "connector" not in references(stream) and "connector.user" not in references(stream)
    for stream in ("activitiesFbm", "activitiesIgdm", "activitiesWap", "activitiesVbr"):
        assert all_references(stream)["external_contact.crm_contact"].streams == ("contacts",)
    web = all_references("activitiesWeb")
    assert web["connector.ctcQueues"].many and web["connector.ctcQueues"].streams == ("queues",)
    assert web["connector.npsTemplate"].streams == ("templates",)
    assert {"survey.activity", "survey.user", "survey.contact"} <= set(all_references("activities"))
    assert set(references("tickets")) == set(all_references("tickets"))  # no nested ones: all are keys already
    sms = keys_schema("activitiesSms", load_schema("activitiesSms"))["properties"]
    assert sms["connector"]["properties"]["user"] == {
        "type": ["object", "null"],
        "properties": {"name": {"type": ["string", "null"]}, "title": {"type": ["string", "null"]}},
    }
    assert (
        sms["connector"]["properties"]["name"]
        == load_schema("activitiesSms")["properties"]["connector"]["properties"]["name"]
    )


def test_nested_references_under_a_free_form_object_keep_its_declaration():
    schema = copy.deepcopy(load_schema("activitiesSms"))
    schema["properties"]["connector"] = {"type": ["object", "array", "null"]}  # e.g. a live-discovered free form
    assert keys_schema("activitiesSms", schema)["properties"]["connector"] == {"type": ["object", "array", "null"]}


def test_model_reference():
    users = model_reference("users")
    assert users.streams == ("users",) and users.fields == ("name", "title") and not users.many
    assert model_reference("activitiesCall").fields == ("id_call",)
    assert model_reference("routingSmsInbound") is None and model_reference("activitiesEmailFiles") is None


def test_every_reference_targets_a_declared_primary_key_and_a_declared_property():
    for endpoint in ENDPOINTS:
        declared = load_schema(endpoint.name)["properties"]
        for prop, ref in references(endpoint.name).items():
            assert prop in declared, (endpoint.name, prop)
            for target in ref.streams:
                key = ENDPOINTS_BY_NAME[target].primary_key
                assert key in ref.key_fields
                assert key in load_schema(target)["properties"], (endpoint.name, prop, target)
                assert key in load_schema(target)["required"]
                assert ref.title == all("title" in load_schema(t)["properties"] for t in ref.streams)


def test_keys_schema_types():
    tickets = keys_schema("tickets", load_schema("tickets"))["properties"]
    assert tickets["user"] == {
        "type": ["object", "null"],
        "properties": {"name": {"type": ["string", "null"]}, "title": {"type": ["string", "null"]}},
    }
    assert tickets["parentTicket"]["properties"]["name"] == {"type": ["integer", "null"]}  # ticket names are ints
    assert tickets["followers"] == {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
    assert tickets["statuses"] == {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
    assert tickets["title"] == load_schema("tickets")["properties"]["title"]  # not a reference: untouched

    calls = keys_schema("activitiesCall", load_schema("activitiesCall"))["properties"]
    assert calls["id_queue"]["properties"]["name"] == {"type": ["integer", "null"]}  # queue names are ints
    assert calls["missed_callback"] == {
        "type": ["object", "null"],
        "properties": {"id_call": {"type": ["string", "null"]}},  # calls have no title
    }
    assert calls["activities"] == {"type": ["array", "null"], "items": {"type": ["string", "null"]}}

    item = keys_schema("activities", load_schema("activities"))["properties"]["item"]
    assert item == {
        "type": ["object", "null"],
        "properties": {"name": {"type": ["string", "null"]}, "id_call": {"type": ["string", "null"]}},
    }


def test_keys_schema_leaves_the_input_and_unknown_properties_alone():
    schema = copy.deepcopy(load_schema("tickets"))
    schema["properties"]["live_only"] = {"type": ["object", "null"], "properties": {"a": {"type": ["string"]}}}
    del schema["properties"]["followers"]  # e.g. a projection: absent references are not added
    before = copy.deepcopy(schema)
    out = keys_schema("tickets", schema)
    assert schema == before
    assert out["properties"]["live_only"] == schema["properties"]["live_only"]
    assert "followers" not in out["properties"]
    assert list(out["properties"]) == list(schema["properties"])  # order kept
    assert out["required"] == ["name"]


def test_schema_for_mode():
    schema = load_schema("contacts")
    full = schema_for_mode("contacts", schema, "full")
    assert full == schema and full is not schema
    assert schema_for_mode("contacts", schema, "keys") == keys_schema("contacts", schema)
    with pytest.raises(ValueError, match="keys, full"):
        schema_for_mode("contacts", schema, "flat")


def test_key_of_single_and_many():
    user = references("tickets")["user"]
    assert key_of(user, None) is None
    assert key_of(user, {"name": "u1", "title": "Jana", "role": {"name": "r"}}) == {"name": "u1", "title": "Jana"}
    assert key_of(user, {"title": "An user", "alias": "user"}) == {"name": None, "title": "An user"}  # anonymised
    assert key_of(user, "u1") == {"name": "u1", "title": None}  # a bare id
    assert key_of(user, []) is None  # PHP's empty object
    followers = references("tickets")["followers"]
    assert key_of(followers, None) is None
    assert key_of(followers, []) == []
    assert key_of(followers, [{"name": "a"}, {"name": "b", "title": "B"}, "c"]) == ["a", "b", "c"]
    assert key_of(followers, {"0": {"name": "a"}}) == ["a"]  # a PHP dict-keyed array

    item = references("activities")["item"]
    assert key_of(item, {"id_call": "1700000000.1", "call_time": "2024-01-01 10:00:00"}) == {
        "name": None,
        "id_call": "1700000000.1",
    }
    assert key_of(item, {"name": "emails_1", "title": "Subject"}) == {"name": "emails_1", "id_call": None}
    assert key_of(item, None) is None


def test_reference_is_frozen():
    ref = Reference("user", ("users",), False, ("name",), True)
    assert ref.fields == ("name", "title")
    with pytest.raises(AttributeError):
        ref.many = True  # type: ignore[misc]


def test_key_of_real_ticket():
    (ticket,) = sample_records("tickets-response.json")
    refs = references("tickets")
    assert key_of(refs["category"], ticket["category"]) == {
        "name": "categories_618a5a3925976853354965",
        "title": "Customer Support",
    }
    assert key_of(refs["statuses"], ticket["statuses"]) == ["statuses_618a6b822ecbc476078482"]
    assert key_of(refs["followers"], ticket["followers"]) == [None]  # the sample's users are anonymised
    assert key_of(refs["user"], ticket["user"]) == {"name": None, "title": "An user"}
    assert key_of(refs["contact"], ticket["contact"]) is None


def test_key_of_real_activities():
    activity = sample_records("ticket-activity-read-email.json")[0]
    refs = references("activities")
    assert activity["type"] == "EMAIL"
    assert key_of(refs["item"], activity["item"]) == {"name": activity["item"]["name"], "id_call": None}
    assert key_of(refs["queue"], activity["queue"]) == {"name": 3001, "title": "customer@email.com"}
    assert key_of(refs["ticket"], activity["ticket"]) == {"name": 9673, "title": "Api test"}
    comment = sample_records("ticket-activity-read.json")[0]
    assert key_of(refs["item"], comment["item"]) is None  # a comment has no channel record

    (email,) = sample_records("ticket-email-activities-read-2.json")
    assert key_of(references("activitiesEmail")["activities"], email["activities"]) == ["activities_1234"]
    assert key_of(references("activitiesEmail")["queue"], email["queue"]) == {"name": None, "title": None}


# --- the samples' own evidence: `_sys.model` of every embedded record ---------------------------------------------

SAMPLE_FILES = sorted(SAMPLES.glob("*.json")) if SAMPLES.is_dir() else []


def _sample_records() -> dict[str, list[dict]]:
    """Every real sample record by the stream its `_sys.model` names."""
    found: dict[str, list[dict]] = {}
    for path in SAMPLE_FILES:
        result = json.loads(path.read_text("utf-8-sig")).get("result")
        records = result.get("data", [result]) if isinstance(result, dict) else []
        for record in records.values() if isinstance(records, dict) else records:
            model = (record.get("_sys") or {}).get("model") if isinstance(record, dict) else None
            if model in ENDPOINTS_BY_NAME:
                found.setdefault(model, []).append(record)
    return found


def _embedded(value, path=()):
    """(dict-key path, model) of records embedded in `value` whose `_sys.model` names a stream (not inside them)."""
    if isinstance(value, list):
        for item in value:
            yield from _embedded(item, path)
    elif isinstance(value, dict):
        model = (value.get("_sys") or {}).get("model") if isinstance(value.get("_sys"), dict) else None
        if path and model in ENDPOINTS_BY_NAME:
            yield path, model
            return
        for key, item in value.items():
            yield from _embedded(item, (*path, key))


@pytest.mark.skipif(not SAMPLE_FILES, reason="samples not present")
def test_every_embedded_record_in_the_samples_is_a_known_reference_or_inside_a_free_form_value():
    """Where a real response embeds a streamed model's record, references.json has that path (with that model), or
    the path runs through a free-form value, where keys mode reduces it by its `_sys.model`."""
    checked = 0
    for stream, records in _sample_records().items():
        schema = load_schema(stream)
        for record in records:
            for path, model in _embedded(record):
                checked += 1
                reference = all_references(stream).get(".".join(path))
                if reference is not None:
                    assert model in reference.streams, (stream, path, model)
                    continue
                declared = schema["properties"].get(path[0]) or {}
                assert len(path) > 1 and "properties" not in declared, (stream, path, model)
    assert checked >= 15


@pytest.mark.skipif(not SAMPLE_FILES, reason="samples not present")
@pytest.mark.parametrize("flat", [False, True])
def test_keys_mode_leaves_no_copy_in_the_samples(flat):
    """The real samples shaped in keys mode (Singer JSON and flat): no copy of a streamed model's record at any depth,
    though the raw records hold many (the 2026 CRM record: ticket, category, SLA, user, role, profile, account...)."""
    from tap_daktela.dates import LocalTimeConverter
    from tap_daktela.shaping import RecordShaper
    from tests.embedded_copies import copies, models, regrouped

    samples = _sample_records()
    known = models(samples)
    raw_copies = shaped_copies = 0
    for stream, records in samples.items():
        schema = schema_for_mode(stream, load_schema(stream), "keys")
        shaper = RecordShaper(
            schema, LocalTimeConverter("Europe/Prague"), flat=flat, references=all_references(stream), keys=True
        )
        for record in records:
            raw_copies += sum(len(copies(value, known, prop)) for prop, value in record.items() if prop != "_sys")
            shaped = regrouped(shaper(record), schema) if flat else shaper(record)
            found = [hit for prop, value in shaped.items() for hit in copies(value, known, prop)]
            assert found == [], (stream, found)
            shaped_copies += len(found)
    assert raw_copies >= 10 and shaped_copies == 0


def test_generator_follows_refs_into_models_without_a_stream():
    """`build_references` on a made-up document: a ref to a stream's read schema ends a path, a ref to any other
    model is followed (arrays of them too), a model that refers to itself stops."""
    from scripts.generate_schemas import PREFIX, SCHEMA_REFS, build_references

    def ref(name: str) -> dict:
        return {"$ref": f"#/components/schemas/{name}"}

    users, queues = PREFIX + SCHEMA_REFS["users"], PREFIX + SCHEMA_REFS["queues"]
    components = {
        PREFIX + SCHEMA_REFS["activitiesSms"]: {
            "properties": {
                "name": {"type": "string"},
                "user": {"anyOf": [ref(users), {"type": "null"}]},
                "connector": ref("Connector"),
                "rules": {"type": "array", "items": ref("Rule")},
            }
        },
        "Connector": {
            "properties": {
                "user": ref(users),
                "production": ref("Connector"),
                "queues": {"type": "array", "items": ref(queues)},
            }
        },
        "Rule": {"properties": {"owner": ref(users), "note": {"type": "string"}}},
        users: {"properties": {"name": {"type": "string"}, "role": ref("Role")}},
        "Role": {"properties": {"name": {"type": "string"}}},
    }
    assert build_references("activitiesSms", components) == {
        "activities": {"streams": ["activities"], "many": True},  # observed in samples, not in the document
        "connector.queues": {"streams": ["queues"], "many": True},
        "connector.user": {"streams": ["users"], "many": False},
        "rules.owner": {"streams": ["users"], "many": False},
        "user": {"streams": ["users"], "many": False},
    }
