"""`nested_objects` (keys | full) end to end: the real tap-daktela CLI against the simulator, every stream.

One module-scoped set of runs (discover once per mode, then sync every stream): keys mode flattened with the
simulator's `dotted_fields` knob at "honour", "ignore" and "whole", full mode flattened, and both modes as Singer
JSON (flatten_records false). The expectations are computed from `references(stream)` (which properties reference
which streams), the target streams' own keys and titles, and the simulator's data, not from the shaping code.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter

import pytest

from tap_daktela.dates import LocalTimeConverter
from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME
from tap_daktela.references import all_references, keys_schema, references
from tap_daktela.shaping import RecordShaper
from tests.conftest import TapRun, run_tap, tap_config, walk_keys
from tests.embedded_copies import copies, models, regrouped
from tests.simulator import DaktelaSimulator

STREAMS = [endpoint.name for endpoint in ENDPOINTS]
INTERNALS = ("_sys", "_rdata", "_guiData")
CREDENTIALS = ("accessToken", "apiToken", "oauthToken", "refreshToken", "password", "secret")
JSON_CELL = ("{", "[")
# an activity's `item` is the channel record named by the activity's `type`
CHANNEL_OF_TYPE = {
    "CALL": "activitiesCall",
    "EMAIL": "activitiesEmail",
    "SMS": "activitiesSms",
    "FBM": "activitiesFbm",
    "IGDM": "activitiesIgdm",
    "WAP": "activitiesWap",
    "VBR": "activitiesVbr",
    "WEB": "activitiesWeb",
    "CHAT": "activitiesChat",
}
KINDS = ("objects", "arrays")  # nested objects (`user.name`) and arrays of references (`statuses.name`)
HONOURED = "Dotted fields[] for nested {} are honoured by the instance"
NOT_HONOURED = "Dotted fields[] for nested {} are not honoured by the instance; their keys are taken from whole records"
REFERENCES = [(stream, prop) for stream in STREAMS for prop in references(stream)]


# ------------------------------------------------------------------------------------------------ the runs


class Runs:
    """The module's runs: discovered catalogs per mode, tap runs, and bytes the simulator served per run."""

    def __init__(self) -> None:
        self.catalog: dict[str, dict] = {}
        self.run: dict[str, TapRun] = {}
        self.bytes: dict[str, int] = {}
        self.list_requests: dict[str, Counter] = {}
        self.raw: dict[str, list[dict]] = {}

    def schema(self, mode: str, stream: str) -> dict:
        """A stream's (nested) schema in the catalog discovered for `mode`."""
        return next(e["schema"] for e in self.catalog[mode]["streams"] if e["tap_stream_id"] == stream)

    def columns(self, run: str, stream: str) -> dict[str, set[str]]:
        """Column -> JSON types of a flattened run's SCHEMA message."""
        return {name: _types(prop) for name, prop in self.run[run].schema(stream)["schema"]["properties"].items()}

    def keys(self, stream: str) -> list:
        """The primary keys a keys-mode run emitted for a stream."""
        pk = ENDPOINTS_BY_NAME[stream].primary_key
        return [record[pk] for record in self.run["keys"].records(stream)]


@pytest.fixture(scope="module")
def sim():
    with DaktelaSimulator(seed=7, scale="small") as simulator:
        yield simulator


@pytest.fixture(scope="module")
def runs(sim, tmp_path_factory) -> Runs:
    out = Runs()
    out.raw = {stream: sim.records(stream) if stream in sim.tables else [] for stream in STREAMS}
    for mode in ("keys", "full"):
        discovered = run_tap(
            tmp_path_factory.mktemp(f"discover-{mode}"),
            tap_config(sim, flatten_records=True, nested_objects=mode),
            "--discover",
        )
        assert discovered.returncode == 0, discovered.stderr
        out.catalog[mode] = json.loads(discovered.stdout)
    plan = [
        # run name, nested_objects, flatten_records, dotted_fields knob
        ("keys", "keys", True, "honour"),
        ("keys-ignore", "keys", True, "ignore"),
        ("keys-whole", "keys", True, "whole"),
        ("full", "full", True, "honour"),
        ("keys-json", "keys", False, "honour"),
        ("full-json", "full", False, "honour"),
    ]
    try:
        for name, mode, flat, dotted in plan:
            sim.knobs.dotted_fields = dotted
            sim.reset_counters()
            run = run_tap(
                tmp_path_factory.mktemp(name),
                tap_config(sim, flatten_records=flat, nested_objects=mode),
                catalog=out.catalog[mode],
            )
            assert run.returncode == 0, f"{name}: {run.stderr}"
            out.run[name] = run
            out.bytes[name] = sim.counters.bytes_sent
            out.list_requests[name] = Counter(sim.counters.list_requests)
    finally:
        sim.knobs.dotted_fields = "honour"
        sim.reset_counters()
    return out


# ------------------------------------------------------------------------------------------------ helpers


def _types(prop: dict) -> set[str]:
    kind = prop.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _flat_types(prop: dict) -> set[str]:
    """The types of a flattened cell: a scalar keeps its types, anything else is JSON text."""
    kinds = _types(prop)
    if kinds - {"null"} and not kinds & {"object", "array"}:
        return kinds | {"null"}
    return {"string", "null"}


def _owned(columns, prop: str, properties) -> set[str]:
    """The columns that come from top-level property `prop`: `prop` itself or `prop_*`, except columns of a
    longer top-level property that starts with `prop_` (`sla` vs `sla_overdue`)."""
    longer = [other for other in properties if other != prop and other.startswith(f"{prop}_")]
    return {
        column
        for column in columns
        if (column == prop or column.startswith(f"{prop}_"))
        and not any(column == other or column.startswith(f"{other}_") for other in longer)
    }


def _target_declares_title(runs: Runs, stream: str, prop: str) -> bool:
    """`<prop>_title` is expected when the (single) target stream declares `title` in the run's catalog."""
    targets = references(stream)[prop].streams
    return len(targets) == 1 and "title" in runs.schema("keys", targets[0])["properties"]


def _cells(run: TapRun):
    """(stream, column, parsed JSON) of every JSON text cell of a flattened run."""
    for message in run.messages:
        if message["type"] != "RECORD":
            continue
        for column, value in message["record"].items():
            if isinstance(value, str) and value.startswith(JSON_CELL):
                try:
                    yield message["stream"], column, json.loads(value)
                except ValueError:
                    continue  # a text that merely starts with a bracket


def _secret_values(raw: dict[str, list[dict]]) -> set[str]:
    found: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key in CREDENTIALS and isinstance(item, str) and len(item) >= 8:
                    found.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for records in raw.values():
        walk(records)
    return found


# ------------------------------------------------------------------------------------------------ columns


@pytest.mark.parametrize("stream", STREAMS)
def test_keys_mode_columns_and_types(runs, stream):
    """Each reference is `<prop>_<target key>` (+ `<prop>_title` when the target declares one) typed like the
    target's key, nothing else under `<prop>_`; an array of references is one JSON cell."""
    columns = runs.columns("keys", stream)
    properties = runs.schema("keys", stream)["properties"]
    for prop, reference in references(stream).items():
        assert prop in properties, (stream, prop)
        owned = _owned(columns, prop, properties)
        if reference.many:
            assert owned == {prop}, (stream, prop, owned)
            assert columns[prop] == {"string", "null"}, (stream, prop)
            continue
        expected = {}
        for target in reference.streams:
            key = ENDPOINTS_BY_NAME[target].primary_key
            expected.setdefault(f"{prop}_{key}", set()).update(runs.columns("keys", target)[key])
        if _target_declares_title(runs, stream, prop):
            expected[f"{prop}_title"] = {"string", "null"}
        assert owned == set(expected), (stream, prop, sorted(owned))
        for column, kinds in expected.items():
            assert columns[column] == kinds | {"null"}, (stream, column, columns[column])


@pytest.mark.parametrize("stream", STREAMS)
def test_full_mode_columns_and_types(runs, stream):
    """Full mode: every declared field of the embedded copy is a column (scalars typed, deeper ones JSON text);
    properties that are no references have the same columns and types in both modes."""
    columns = runs.columns("full", stream)
    keys_columns = runs.columns("keys", stream)
    properties = runs.schema("full", stream)["properties"]
    refs = references(stream)
    for prop, declared in properties.items():
        owned = _owned(columns, prop, properties)
        if prop not in refs:
            assert owned == _owned(keys_columns, prop, properties), (stream, prop)
            assert {c: columns[c] for c in owned} == {c: keys_columns[c] for c in owned}, (stream, prop)
            continue
        children = declared.get("properties") if "object" in _types(declared) else None
        if children:
            expected = {f"{prop}_{child}": _flat_types(spec) for child, spec in children.items()}
            assert len(expected) > 2, (stream, prop)  # a copy, more than key and title
        else:
            expected = {prop: {"string", "null"}}  # an array of copies, or the polymorphic `item`: JSON text
        assert {c: columns[c] for c in owned} == expected, (stream, prop)


def test_full_mode_carries_the_embedded_copies_keys_mode_does_not(runs):
    tickets = runs.columns("full", "tickets")
    assert {"user_name", "user_title", "user_email", "user_role", "category_sla"} <= set(tickets)
    assert tickets["user_role"] == {"string", "null"}  # deeper objects as JSON text
    assert "user_email" not in runs.columns("keys", "tickets")
    calls = runs.columns("keys", "activitiesCall")
    assert {"id_queue_name", "id_queue_title", "cdr_name"} <= set(calls)  # cdr is no reference: full treatment
    assert not {"id_queue_type", "id_queue_options"} & set(calls)
    activities = runs.columns("keys", "activities")
    assert {"item_name", "item_id_call"} <= set(activities) and "item" not in activities
    assert "item" in runs.columns("full", "activities")
    sms = runs.columns("keys", "activitiesSms")
    assert {"connector_name", "connector_title", "connector_user"} <= set(sms)  # a connector has no stream
    assert sms["connector_user"] == {"string", "null"}  # its user: keys, one JSON cell


# ------------------------------------------------------------------------------------------------ values


@pytest.mark.parametrize(("stream", "prop"), REFERENCES, ids=[f"{s}.{p}" for s, p in REFERENCES])
def test_keys_mode_referential_integrity(runs, stream, prop):
    """Every key a reference carries is a record of the target stream in the same run."""
    reference = references(stream)[prop]
    records = runs.run["keys"].records(stream)
    assert records, stream
    seen = 0
    if reference.polymorphic:  # an activity's `item`: the channel named by its `type`
        assert stream == "activities"
        types_seen = Counter()
        for record in records:
            name, id_call = record.get("item_name"), record.get("item_id_call")
            if name is None and id_call is None:
                continue
            target = CHANNEL_OF_TYPE.get(record.get("type"))
            assert target, (record["name"], record.get("type"))
            if target == "activitiesCall":
                assert name is None and id_call in runs.keys("activitiesCall"), record["name"]
            else:
                assert id_call is None and name in runs.keys(target), (record["name"], target, name)
            types_seen[record["type"]] += 1
            seen += 1
        assert {"CALL", "EMAIL", "SMS", "WEB"} <= set(types_seen), types_seen
        return
    (target,) = reference.streams
    keys = set(runs.keys(target))
    key = ENDPOINTS_BY_NAME[target].primary_key
    for record in records:
        if reference.many:
            if prop in record:
                values = json.loads(record[prop])
                assert isinstance(values, list), (stream, prop, record[prop])
                assert set(values) <= keys, (stream, prop, set(values) - keys)
                seen += len(values)
        elif f"{prop}_{key}" in record:
            assert record[f"{prop}_{key}"] in keys, (stream, prop, record[f"{prop}_{key}"])
            seen += 1
    raw_seen = sum(1 for r in runs.raw[stream] if r.get(prop))
    assert seen or not raw_seen, f"{stream}.{prop}: the simulator sends references, none came out"


def test_keys_mode_titles_are_the_targets_titles(runs):
    users = {u["name"]: u.get("title") for u in runs.run["keys"].records("users")}
    categories = {c["name"]: c.get("title") for c in runs.run["keys"].records("ticketsCategories")}
    tickets = runs.run["keys"].records("tickets")
    assert any("user_name" in t for t in tickets) and any("category_name" in t for t in tickets)
    for ticket in tickets:
        if "user_name" in ticket:
            assert ticket.get("user_title") == users[ticket["user_name"]]
        if "category_name" in ticket:
            assert ticket.get("category_title") == categories[ticket["category_name"]]
    queues = {q["name"]: q.get("title") for q in runs.run["keys"].records("queues")}
    calls = [c for c in runs.run["keys"].records("activitiesCall") if "id_queue_name" in c]
    assert calls and all(isinstance(c["id_queue_name"], int) for c in calls)
    assert all(c.get("id_queue_title") == queues[c["id_queue_name"]] for c in calls)


def test_keys_mode_follows_the_simulators_references(runs):
    """The emitted keys are the keys of the embedded records as served, row by row."""
    raw = {t["name"]: t for t in runs.raw["tickets"]}
    for ticket in runs.run["keys"].records("tickets"):
        source = raw[ticket["name"]]
        assert ticket.get("user_name") == (source["user"] or {}).get("name")
        assert json.loads(ticket["statuses"]) == [s["name"] for s in source["statuses"] or []]
        assert json.loads(ticket["followers"]) == [f["name"] for f in source["followers"] or []]
    assert any(json.loads(t["statuses"]) for t in runs.run["keys"].records("tickets"))


@pytest.mark.parametrize("run", ["keys", "full", "keys-json", "full-json"])
def test_no_internals_anywhere(runs, run):
    stdout = runs.run[run].stdout
    assert any("_sys" in json.dumps(records) for records in runs.raw.values())  # the simulator sends them
    for internal in INTERNALS:
        assert internal not in stdout, (run, internal)


@pytest.mark.parametrize("run", ["keys", "full", "keys-json", "full-json"])
def test_no_credentials_in_records_or_cells(runs, run):
    secrets = _secret_values(runs.raw)
    assert len(secrets) >= 10  # connectors' tokens: the check below has something to find
    stdout = runs.run[run].stdout
    assert not [secret for secret in secrets if secret in stdout]
    for stream in STREAMS:
        for record in runs.run[run].records(stream):
            for key in walk_keys(record):
                assert key.rsplit("_", 1)[-1] not in CREDENTIALS, (run, stream, key)
    for stream, column, value in _cells(runs.run[run]):
        assert not set(walk_keys(value)) & set(CREDENTIALS + INTERNALS), (run, stream, column)


@pytest.mark.parametrize("run", ["keys", "full"])
def test_no_credential_columns_declared(runs, run):
    declared = {
        (stream, column)
        for stream in STREAMS
        for column in runs.columns(run, stream)
        if column.rsplit("_", 1)[-1] in CREDENTIALS
    }
    assert declared == set()


# ------------------------------------------------------------------------------------------------ PHP's []


def _object_columns(runs: Runs, mode: str, stream: str) -> dict[str, str]:
    """Flattened columns whose declaration is an object (column -> the declared property's name)."""
    out = {}
    for prop, declared in runs.schema(mode, stream)["properties"].items():
        children = declared.get("properties") if "object" in _types(declared) else None
        if children:
            for child, spec in children.items():
                if "object" in _types(spec):
                    out[f"{prop}_{child}"] = child
        elif "object" in _types(declared):
            out[prop] = prop
    return out


@pytest.mark.parametrize("mode", ["keys", "full"])
def test_php_empty_array_never_fills_an_object_cell(runs, mode):
    """Where an object is declared, a cell is JSON text or empty, never `[]`; a `customFields` cell of a present
    parent is `{...}` or `{}` every row (never empty for PHP's `[]`)."""
    assert any(r.get("options") == [] for r in runs.raw["activitiesCall"])  # the simulator sends PHP's []
    checked = Counter()
    for stream in STREAMS:
        objects = _object_columns(runs, mode, stream)
        for record in runs.run[mode].records(stream):
            for column, prop in objects.items():
                value = record.get(column)
                if value is not None:
                    # a declared object may hold a list where Daktela sends one (`connector_inputs`), never []
                    assert json.loads(value) != [], (mode, stream, column)
                    checked[column] += 1
                parent = column.rsplit("_customFields", 1)[0]
                if prop == "customFields" and column != "customFields" and f"{parent}_name" in record:
                    assert value is not None, (mode, stream, record, column)
    assert checked["options"] and checked["user_options" if mode == "full" else "options"]


@pytest.mark.parametrize("mode", ["keys", "full"])
def test_php_empty_array_in_singer_json(runs, mode):
    """Singer JSON: a declared object is never `[]` at any declared depth (null instead); `customFields` is a
    dict in every record (`{}` for PHP's `[]`)."""
    run = runs.run[f"{mode}-json"]
    empty_custom_fields = 0
    for stream in STREAMS:
        properties = runs.schema(mode, stream)["properties"]
        for record in run.records(stream):
            for prop, declared in properties.items():
                value = record.get(prop)
                if prop == "customFields":
                    assert isinstance(value, dict), (stream, record.get("name"), value)
                    empty_custom_fields += value == {}
                elif "object" in _types(declared):
                    assert value != [], (stream, prop)
                children = declared.get("properties") if isinstance(value, dict) else None
                for child, spec in (children or {}).items():
                    if "object" in _types(spec) and child in value:
                        inner = value[child]
                        if child == "customFields":
                            assert isinstance(inner, dict), (stream, prop, inner)
                        else:
                            assert inner != [], (stream, prop, child)
    raw_empty = sum(r.get("customFields") == [] for records in runs.raw.values() for r in records)
    assert raw_empty and empty_custom_fields >= raw_empty


def test_options_empty_object_is_null_in_both_shapes(runs):
    raw = {r["id_call"]: r["options"] for r in runs.raw["activitiesCall"]}
    assert [] in raw.values()
    for record in runs.run["keys-json"].records("activitiesCall"):
        assert record["options"] == (raw[record["id_call"]] or None)
    for record in runs.run["keys"].records("activitiesCall"):
        assert ("options" in record) == bool(raw[record["id_call"]])


# ------------------------------------------------------------------------------------------------ Singer JSON


def test_singer_json_references_are_key_and_title(runs):
    flat = {t["name"]: t for t in runs.run["keys"].records("tickets")}
    tickets = runs.run["keys-json"].records("tickets")
    with_user = [t for t in tickets if t["user"] is not None]
    assert with_user
    for ticket in with_user:
        assert set(ticket["user"]) == {"name", "title"}
        assert ticket["user"]["name"] == flat[ticket["name"]]["user_name"]
        assert ticket["user"]["title"] == flat[ticket["name"]].get("user_title")
    assert all(isinstance(t["statuses"], list) for t in tickets)
    assert all(isinstance(s, str) for t in tickets for s in t["statuses"])
    calls = runs.run["keys-json"].records("activitiesCall")
    assert any(isinstance((c["id_queue"] or {}).get("name"), int) for c in calls)
    activities = runs.run["keys-json"].records("activities")
    items = [a["item"] for a in activities if a.get("item")]
    assert items and all(set(item) == {"name", "id_call"} for item in items)
    assert any(item["id_call"] for item in items) and any(item["name"] for item in items)


@pytest.mark.parametrize("stream", STREAMS)
def test_singer_json_reference_shapes(runs, stream):
    for record in runs.run["keys-json"].records(stream):
        for prop, reference in references(stream).items():
            value = record.get(prop)
            if value is None:
                continue
            if reference.many:
                assert isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value), value
            else:
                fields = {ENDPOINTS_BY_NAME[target].primary_key for target in reference.streams}
                if _target_declares_title(runs, stream, prop):
                    fields.add("title")
                assert isinstance(value, dict) and set(value) == fields, (stream, prop, value)


# ------------------------------------------------------------------------------------------------ dotted fields[]


@pytest.mark.parametrize("other", ["keys-ignore", "keys-whole"])
def test_output_identical_whether_dotted_fields_are_honoured_or_not(runs, other):
    for stream in STREAMS:
        added = ENDPOINTS_BY_NAME[stream].added_properties  # the tap's own (a snapshot's time): differs per run

        def daktelas(records: list[dict], added: tuple[str, ...] = added) -> list[dict]:
            return [{key: value for key, value in record.items() if key not in added} for record in records]

        assert daktelas(runs.run[other].records(stream)) == daktelas(runs.run["keys"].records(stream)), stream
        assert runs.run[other].schema(stream) == runs.run["keys"].schema(stream), stream


def test_the_log_says_whether_dotted_fields_are_honoured(runs):
    for kind in KINDS:
        log = runs.run["keys"].stderr
        assert log.count(HONOURED.format(kind)) == 1 and NOT_HONOURED.format(kind) not in log  # once per run
        for other in ("keys-ignore", "keys-whole"):
            assert runs.run[other].stderr.count(NOT_HONOURED.format(kind)) == 1, (other, kind)
            assert HONOURED.format(kind) not in runs.run[other].stderr, (other, kind)


def test_honoured_dotted_fields_serve_several_times_fewer_bytes(runs):
    honoured = runs.bytes["keys"]
    for other in ("keys-ignore", "keys-whole", "full"):
        assert honoured * 2.5 < runs.bytes[other], (other, honoured, runs.bytes[other])
    # one whole sample record per stream that asks for fields, and a probe per run and kind of dotted fields
    # (again for a stream whose probed records cannot tell, e.g. only empty arrays)
    for other in ("keys-ignore", "keys-whole"):
        assert sum(runs.list_requests[other].values()) <= sum(runs.list_requests["keys"].values()), other
    extra = sum(runs.list_requests["keys"].values()) - sum(runs.list_requests["full"].values())
    assert 0 <= extra <= 2 * len(STREAMS) + 2


def test_raw_stdout_has_only_json_lines_and_no_python_reprs(runs):
    for name in ("keys", "full"):
        for line in runs.run[name].stdout.splitlines():
            json.loads(line)
        assert not re.search(r"\{'[A-Za-z_]+': ", runs.run[name].stdout)


# ------------------------------------------------------------------------------------------------ keys at every depth

MESSAGING = ("activitiesSms", "activitiesFbm", "activitiesIgdm", "activitiesWap", "activitiesVbr", "activitiesWeb")
NESTED = [(stream, path) for stream in STREAMS for path in all_references(stream) if "." in path]


def _copies_in(runs: Runs, run: str) -> dict[tuple[str, str], str]:
    """(stream, path) -> model of every copy of a streamed model's record in a run's records, at any depth."""
    known = models(runs.raw)
    found = {}
    for stream in STREAMS:
        schema = runs.schema("full" if run.startswith("full") else "keys", stream)
        for record in runs.run[run].records(stream):
            value = record if run.endswith("-json") else regrouped(record, schema)
            for prop, item in value.items():  # the record itself is its own model's record, not a copy
                for path, model in copies(item, known, prop):
                    found[(stream, re.sub(r"\[\d+\]", "[]", path))] = model
    return found


@pytest.mark.parametrize("run", ["keys", "keys-json"])
def test_keys_mode_no_copy_of_a_streamed_record_at_any_depth(runs, run):
    """Over every stream, flat and nested: no value at any depth (JSON cells included) is an object with a
    streamed model's key plus fields beyond key and title."""
    assert _copies_in(runs, run) == {}


@pytest.mark.parametrize("run", ["full", "full-json"])
def test_full_mode_copies_are_found_by_the_same_check(runs, run):
    """The check above can fail: full mode's copies, top-level and nested in objects without a stream."""
    found = _copies_in(runs, run)  # flat records are regrouped: the same paths in both shapes
    for stream in MESSAGING:
        assert found[(stream, "connector.user")] == "users", stream
    for stream in ("activitiesFbm", "activitiesIgdm", "activitiesWap", "activitiesVbr"):
        assert found[(stream, "external_contact.crm_contact")] == "contacts", stream
    assert found[("tickets", "user")] == "users" and found[("tickets", "statuses[]")] == "statuses"


@pytest.mark.parametrize(("stream", "path"), NESTED, ids=[f"{s}.{p}" for s, p in NESTED])
def test_nested_references_are_keys_of_the_target(runs, stream, path):
    """`connector.user` and the like: key and title of a record of the target stream (the same run), or a JSON
    array of keys; flattened, the same value as one JSON cell of `<parent>_<child>`."""
    reference = all_references(stream)[path]
    parent, child = path.split(".")
    (target,) = reference.streams
    keys = set(runs.keys(target))
    flat = {r[ENDPOINTS_BY_NAME[stream].primary_key]: r for r in runs.run["keys"].records(stream)}
    seen = 0
    for record in runs.run["keys-json"].records(stream):
        value = (record.get(parent) or {}).get(child)
        cell = flat[record[ENDPOINTS_BY_NAME[stream].primary_key]].get(f"{parent}_{child}")
        assert (json.loads(cell) if cell is not None else None) == value, (stream, path)
        if not value:  # null, or an empty array of references
            continue
        if reference.many:
            assert set(value) <= keys, (stream, path, value)
        else:
            assert set(value) <= {*reference.key_fields, "title"} and value[reference.key_fields[0]] in keys
        seen += 1
    raw_seen = sum(1 for r in runs.raw[stream] if (r.get(parent) or {}).get(child))
    assert seen == raw_seen, (stream, path, seen, raw_seen)


def _bytes_per_row(records: list[dict], columns: list[str]) -> float:
    """The average size of the records as CSV rows (UTF-8, one column per flat property, null empty)."""
    assert records
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    for record in records:
        writer.writerow(record)
    return len(buffer.getvalue().encode()) / len(records)


def _top_level_keys_only(runs: Runs, stream: str) -> list[dict]:
    """The raw records flattened as keys mode did when only top-level references became keys (the behaviour
    before keys at every depth): the full schema with its top-level references declared as keys."""
    full = runs.schema("full", stream)
    keys = keys_schema(stream, full)["properties"]
    schema = {
        **full,
        "properties": {n: keys[n] if n in references(stream) else p for n, p in full["properties"].items()},
    }
    shaper = RecordShaper(schema, LocalTimeConverter("Europe/Prague"), flat=True, references=references(stream))
    return [shaper(record) for record in runs.raw[stream]]


def test_messaging_tables_bytes_per_row_drop(runs, capsys):
    """Keys at every depth: the messaging tables' CSV rows are at least 3x smaller than full mode's (measured in the
    same runs) and together at least 3x smaller than with keys at the top level only (the behaviour before; each
    table at least 2.5x)."""
    lines, old_total, new_total = [], 0.0, 0.0
    for stream in (*MESSAGING, "activitiesChat"):  # the legacy web chat has no connector: no change there
        columns = list(runs.columns("keys", stream))
        keys = _bytes_per_row(runs.run["keys"].records(stream), columns)
        full = _bytes_per_row(runs.run["full"].records(stream), list(runs.columns("full", stream)))
        old = _bytes_per_row(_top_level_keys_only(runs, stream), columns)
        lines.append(f"{stream}: keys {keys:.0f} B/row, top-level keys only {old:.0f}, full {full:.0f}")
        assert keys * 3 <= full, lines[-1]
        assert keys * (2.5 if stream in MESSAGING else 1) <= old, lines[-1]
        old_total, new_total = old_total + old, new_total + keys
    with capsys.disabled():
        print("\n" + "\n".join(lines) + f"\nall: {old_total / new_total:.2f}x smaller than top-level keys only")
    assert new_total * 3 <= old_total, lines
