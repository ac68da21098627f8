"""Instance fields end to end (issue 10): live discovery, custom fields, the undeclared-field warning, offline and
partial discovery, field selection, and real Daktela samples replayed through the tap's own discovery and shaping.

Everything runs the installed `tap-daktela` CLI against the simulator over real sockets, except the sample replay,
which feeds the committed real responses through `live_schema` and a `RecordShaper` built as a stream builds it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft7Validator

from tap_daktela.dates import LocalTimeConverter
from tap_daktela.discovery import live_schema, what_discovery_needs
from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME
from tap_daktela.flattening import flatten_schema
from tap_daktela.instance_facts import fields_of
from tap_daktela.references import references, schema_for_mode
from tap_daktela.shaping import SECRET_KEYS, RecordShaper
from tap_daktela.streams import STREAM_TYPES
from tests.conftest import BIN, REPO, run_tap, tap_config

INTERNALS = {"_sys", "_rdata", "_guiData"}
CF = "customFields"
CF_SCHEME_STREAMS = ("contacts", "accounts", "tickets", "crmRecords")  # records carry `_sys.cfScheme`
CF_STREAMS = (*CF_SCHEME_STREAMS, "campaignsRecords", "activities")  # seed 7 (odd): activities have custom fields
UNDECLARED = "the instance sends fields the catalog does not declare, so they were not extracted: "


def without_credentials(schema: dict) -> dict:
    """A schema without properties named like credentials, at every depth (the tap never declares them)."""
    out = dict(schema)
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: without_credentials(v) for k, v in schema["properties"].items() if k not in SECRET_KEYS}
    if isinstance(schema.get("items"), dict):
        out["items"] = without_credentials(schema["items"])
    return out


# The committed schemas as the tap declares them (keys mode, the default), without credentials.
STATIC = {
    stream_type.name: schema_for_mode(stream_type.name, without_credentials(stream_type.static_schema), "keys")
    for stream_type in STREAM_TYPES
}

# The project's shared folder sits beside the repository (on CI too; /work/shared on a developer machine).
SAMPLES = next(
    (
        folder / "daktela-api" / "samples"
        for folder in (REPO.parent / "shared", Path("/work/shared"))
        if (folder / "daktela-api" / "samples").is_dir()
    ),
    Path("shared/daktela-api/samples"),
)
# Real responses holding records of our streams (list or single record).
SAMPLE_STREAMS = {
    "contacts.json": "contacts",
    "contacts-2.json": "contacts",
    "simple-contact.json": "contacts",
    "simple-contact-with-user.json": "contacts",
    "update-contact.json": "contacts",
    "crm-record-2026.json": "crmRecords",
    "tickets-response.json": "tickets",
    "simple-ticket-response.json": "tickets",
    "ticket-read.json": "tickets",
    "ticket-activities-read.json": "activities",
    "ticket-activity-read.json": "activities",
    "ticket-activity-read-email.json": "activities",
    "fielded-activity-response.json": "activities",
    "ticket-email-activities-read.json": "activitiesEmail",
    "ticket-email-activities-read-2.json": "activitiesEmail",
}


# ----------------------------------------------------------------------------------------------- helpers


def discover(tmp_path: Path, config: dict) -> dict:
    run = run_tap(tmp_path, config, "--discover")
    assert run.returncode == 0, run.stderr
    assert warnings(run.stderr) == [], run.stderr
    return json.loads(run.stdout)


def entry(catalog: dict, stream: str) -> dict:
    return next(item for item in catalog["streams"] if item["tap_stream_id"] == stream)


def schema_of(catalog: dict, stream: str) -> dict:
    return entry(catalog, stream)["schema"]


def declared_custom_fields(schema: dict) -> dict[str, bool]:
    """Declared custom field -> multiple (an array), in declaration order."""
    custom = (schema["properties"].get(CF) or {}).get("properties") or {}
    return {name: "array" in prop["type"] for name, prop in custom.items()}


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| WARNING" in line]


def choose(catalog: dict, wanted: dict[str, list[str] | None]) -> dict:
    """Select streams (stream -> dotted field paths, None = everything) and deselect the rest. A path selects its
    whole subtree and its parents: `customFields.number` selects `customFields` and only that custom field."""
    catalog = json.loads(json.dumps(catalog))
    for item in catalog["streams"]:
        paths = wanted.get(item["tap_stream_id"], ...)
        for meta in item["metadata"]:
            crumb = tuple(meta["breadcrumb"][1::2])
            if not crumb:
                meta["metadata"]["selected"] = paths is not ...
            elif paths is ...:
                meta["metadata"]["selected"] = False
            elif paths is None:
                meta["metadata"]["selected"] = True
            else:
                chosen = [tuple(path.split(".")) for path in paths]
                meta["metadata"]["selected"] = any(
                    crumb[: len(path)] == path or path[: len(crumb)] == crumb for path in chosen
                )
    return catalog


def set_values(raw: object) -> list:
    return [value for value in (raw or []) if value not in (None, "")]


def expected_custom_fields(raw: object, declared: dict[str, bool], only: set[str] | None = None) -> dict:
    """What the tap must emit for a record's raw `customFields` (Singer JSON): a single-valued field its one value,
    a multi-valued one the list of its values (unset: `[]`, as Daktela sends it), an unset single-valued one null;
    PHP's `[]` for the whole object is `{}`."""
    if not isinstance(raw, dict):
        return {}
    out: dict = {}
    for name, multiple in declared.items():
        if name not in raw or (only is not None and name not in only):
            continue
        values = set_values(raw[name])
        if multiple:
            out[name] = values
        else:
            assert len(values) <= 1, (name, raw[name])
            out[name] = values[0] if values else None
    return out


def expected_flat_cells(raw: object, declared: dict[str, bool], only: set[str] | None = None) -> dict:
    """The `customFields_<name>` cells of a flat record: single as text, multi as a JSON array, unset absent."""
    cells = {}
    for name, value in expected_custom_fields(raw, declared, only).items():
        if value:  # unset (null or `[]`): an empty cell
            cells[f"{CF}_{name}"] = (
                value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            )
    return cells


def flat_cf_cells(record: dict) -> dict:
    return {key: value for key, value in record.items() if key.startswith(f"{CF}_")}


def assert_records_match_simulator(run, sim, stream: str) -> dict:
    """Every record once; returns the raw simulator records by primary key."""
    pk = ENDPOINTS_BY_NAME[stream].primary_key
    keys = [record[pk] for record in run.records(stream)]
    assert len(keys) == len(set(keys)), f"duplicate primary keys in {stream}"
    raw = {record[pk]: record for record in sim.records(stream)}
    assert set(keys) == set(raw), stream
    return raw


def walk_property_names(schema: dict, path: tuple[str, ...] = ()):
    for name, prop in (schema.get("properties") or {}).items():
        yield (*path, name)
        if isinstance(prop, dict):
            yield from walk_property_names(prop, (*path, name))
            if isinstance(prop.get("items"), dict):
                yield from walk_property_names(prop["items"], (*path, name, "[]"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def live_catalog(sim, tmp_path_factory) -> dict:
    sim.reset_counters()
    catalog = discover(tmp_path_factory.mktemp("live"), tap_config(sim))
    assert sim.counters.logins == 1
    return catalog


# ----------------------------------------------------------------------------------------------- 1. discovery


def test_every_schema_is_the_static_one_plus_the_fields_seen(sim, live_catalog):
    for endpoint in ENDPOINTS:
        live = schema_of(live_catalog, endpoint.name)["properties"]
        static = STATIC[endpoint.name]["properties"]
        records = sim.records(endpoint.name)
        assert len(records) <= 100, "the sample must hold every record for this comparison"
        seen = {name for record in records for name in record} - INTERNALS - SECRET_KEYS
        assert set(live) == set(static) | seen, endpoint.name
        for name, prop in static.items():
            if name != CF:
                assert live[name] == prop, f"{endpoint.name}.{name} was retyped"
        for name in set(live) - set(static):
            assert "null" in live[name]["type"], f"{endpoint.name}.{name} must be nullable"


def test_listed_fields_the_generic_document_lacks_are_declared(live_catalog):
    assert schema_of(live_catalog, "tickets")["properties"]["isFollowed"]["type"] == ["boolean", "null"]
    assert "array" in schema_of(live_catalog, "activities")["properties"]["attachments"]["type"]


def test_internals_and_credentials_never_appear_in_any_schema(live_catalog, discovered_catalog):
    dropped = INTERNALS | SECRET_KEYS
    for catalog in (live_catalog, discovered_catalog):
        for item in catalog["streams"]:
            for path in walk_property_names(item["schema"]):
                assert not dropped & set(path), (item["tap_stream_id"], path)
            for meta in item["metadata"]:
                assert not dropped & set(meta["breadcrumb"]), (item["tap_stream_id"], meta["breadcrumb"])


@pytest.mark.parametrize("stream", CF_SCHEME_STREAMS)
def test_custom_fields_follow_cf_scheme(sim, live_catalog, stream):
    custom = schema_of(live_catalog, stream)["properties"][CF]
    assert "object" in custom["type"] and "null" in custom["type"]
    scheme = sim.custom_fields(stream)
    assert scheme, stream
    assert list(custom["properties"]) == list(scheme)
    for name, spec in scheme.items():
        if spec["multiple"] is False:
            assert custom["properties"][name] == {"type": ["string", "null"]}, name
        else:
            assert custom["properties"][name] == {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
    assert any(not spec["multiple"] for spec in scheme.values()) or stream == "contacts"


@pytest.mark.parametrize("stream", ["campaignsRecords", "activities"])
def test_custom_fields_without_cf_scheme_are_the_union_of_record_keys(sim, live_catalog, stream):
    records = sim.records(stream)
    assert not any(isinstance(r.get("_sys"), dict) and "cfScheme" in r["_sys"] for r in records)
    union = {name for record in records if isinstance(record[CF], dict) for name in record[CF]}
    assert union, stream
    custom = schema_of(live_catalog, stream)["properties"][CF]["properties"]
    assert set(custom) == union
    for prop in custom.values():  # without a scheme nobody says a field is single-valued
        assert prop == {"type": ["array", "null"], "items": {"type": ["string", "null"]}}


def test_records_differing_in_custom_fields_give_their_union(sim, live_catalog):
    records = [r for r in sim.records("crmRecords") if isinstance(r[CF], dict)]
    shapes = {frozenset(r[CF]) for r in records}
    assert len(shapes) > 1, "the simulator's crmRecords types must carry different custom fields"
    union = frozenset().union(*shapes)
    assert set(declared_custom_fields(schema_of(live_catalog, "crmRecords"))) == union


def test_a_new_top_level_field_gets_an_inferred_nullable_type(fresh_sim, tmp_path):
    extra = {
        "xInt": 7,
        "xNumber": 2.5,
        "xBool": True,
        "xText": "plain text",
        "xTime": "2024-05-01 10:00:00",
        "xDate": "2024-05-01",
        "xObject": {"a": 1, "b": "c"},
        "xArray": [1, 2],
        "xNull": None,
    }
    fresh_sim.knobs.extra_fields = {"tickets": extra}
    config = tap_config(fresh_sim)
    catalog = discover(tmp_path, config)
    props = schema_of(catalog, "tickets")["properties"]
    assert props["xInt"] == {"type": ["integer", "null"]}
    assert props["xNumber"] == {"type": ["number", "null"]}
    assert props["xBool"] == {"type": ["boolean", "null"]}
    assert props["xText"] == {"type": ["string", "null"]}
    assert props["xTime"] == {"type": ["string", "null"], "format": "date-time"}
    assert props["xDate"] == {"type": ["string", "null"]}  # a date alone is no Daktela datetime
    assert props["xObject"]["type"] == ["object", "null"]
    assert props["xArray"]["type"] == ["array", "null"]
    assert "null" in props["xNull"]["type"]
    assert "xInt" not in schema_of(catalog, "contacts")["properties"]

    run = run_tap(tmp_path, config, catalog=choose(catalog, {"tickets": None}))
    assert run.returncode == 0, run.stderr
    assert not [line for line in warnings(run.stderr) if UNDECLARED in line], run.stderr
    assert_records_match_simulator(run, fresh_sim, "tickets")
    for record in run.records("tickets"):
        assert record["xInt"] == 7 and record["xNumber"] == 2.5 and record["xBool"] is True
        assert record["xText"] == "plain text"
        assert record["xTime"] == "2024-05-01T10:00:00+02:00"  # a Daktela datetime with the instance offset
        assert record["xDate"] == "2024-05-01"
        assert record["xObject"] == {"a": 1, "b": "c"} and record["xArray"] == [1, 2]
        assert record["xNull"] is None

    flat = run_tap(tmp_path, {**config, "flatten_records": True}, catalog=choose(catalog, {"tickets": None}))
    assert flat.returncode == 0, flat.stderr
    for record in flat.records("tickets"):
        assert record["xInt"] == 7 and record["xTime"] == "2024-05-01T10:00:00+02:00"
        assert json.loads(record["xObject"]) == {"a": 1, "b": "c"} and json.loads(record["xArray"]) == [1, 2]


# ----------------------------------------------------------------------------------------------- 2. values


@pytest.fixture(scope="module")
def custom_field_runs(sim, live_catalog, tmp_path_factory) -> dict[bool, object]:
    catalog = choose(live_catalog, dict.fromkeys(CF_STREAMS))
    runs = {}
    for flat in (False, True):
        run = run_tap(
            tmp_path_factory.mktemp("cf"), tap_config(sim, flatten_records=flat, page_size=13), catalog=catalog
        )
        assert run.returncode == 0, run.stderr
        assert not [line for line in warnings(run.stderr) if UNDECLARED in line], run.stderr
        runs[flat] = run
    return runs


@pytest.mark.parametrize("stream", CF_STREAMS)
def test_custom_field_values_in_singer_json(sim, live_catalog, custom_field_runs, stream):
    run = custom_field_runs[False]
    raw = assert_records_match_simulator(run, sim, stream)
    declared = declared_custom_fields(schema_of(live_catalog, stream))
    pk = ENDPOINTS_BY_NAME[stream].primary_key
    unset = multi = 0
    for record in run.records(stream):
        source = raw[record[pk]][CF]
        assert record[CF] == expected_custom_fields(source, declared), (stream, record[pk], source)
        for value in record[CF].values():
            unset += value is None or value == []
            multi += isinstance(value, list)
    assert unset and multi, "the data must include unset and multi-valued custom fields"


def test_unset_custom_fields_include_both_php_forms(sim):
    values = [v for record in sim.records("contacts") if isinstance(record[CF], dict) for v in record[CF].values()]
    assert [] in values and [None] in values
    assert any(record[CF] == [] for record in sim.records("tickets")), "PHP's [] for the whole object must occur"


@pytest.mark.parametrize("stream", CF_STREAMS)
def test_custom_field_columns_when_flat(sim, live_catalog, custom_field_runs, stream):
    run = custom_field_runs[True]
    raw = assert_records_match_simulator(run, sim, stream)
    declared = declared_custom_fields(schema_of(live_catalog, stream))
    columns = run.schema(stream)["schema"]["properties"]
    assert [c for c in columns if c.startswith(f"{CF}_")] == [f"{CF}_{name}" for name in declared]
    assert CF not in columns
    for name in declared:
        assert columns[f"{CF}_{name}"]["type"] == ["string", "null"], name
    pk = ENDPOINTS_BY_NAME[stream].primary_key
    for record in run.records(stream):
        source = raw[record[pk]][CF]
        assert flat_cf_cells(record) == expected_flat_cells(source, declared), (stream, record[pk], source)
        assert CF not in record
    cells = [v for r in run.records(stream) for v in flat_cf_cells(r).values()]
    assert any(c.startswith("[") for c in cells) and all(json.loads(c) for c in cells if c.startswith("["))


# ----------------------------------------------------------------------------------------------- 3. undeclared


@pytest.mark.parametrize("selection", ["all fields", "some fields"])
def test_an_old_catalog_warns_once_per_stream_naming_the_new_fields(fresh_sim, tmp_path, selection):
    config = tap_config(fresh_sim, page_size=7)
    old = discover(tmp_path, config)
    before = {stream: schema_of(old, stream) for stream in ("tickets", "contacts")}

    fresh_sim.add_custom_field("tickets", "vin", multiple=False)
    fresh_sim.add_custom_field("contacts", "vip", multiple=True, type="SELECTBOX")
    fresh_sim.knobs.extra_fields = {"tickets": {"aiSummary": "Zákazník chce změnit tarif."}}
    wanted = {"tickets": None, "contacts": None}
    if selection == "some fields":
        wanted = {"tickets": ["title"], "contacts": ["title", "customFields.number"]}
    run = run_tap(tmp_path, config, catalog=choose(old, wanted))
    assert run.returncode == 0, run.stderr

    lines = [line for line in warnings(run.stderr) if UNDECLARED in line]
    expected = {
        "tickets": "aiSummary, customFields.vin",
        "contacts": "customFields.vip",
    }
    assert len(lines) == len(expected), lines
    for stream, names in expected.items():
        message = f"{stream}: {UNDECLARED}{names}. Run discovery again (tap-daktela --discover) to get them."
        assert sum(message in line for line in lines) == 1, (message, lines)

    for stream, schema in before.items():
        assert_records_match_simulator(run, fresh_sim, stream)
        declared = set(schema["properties"])
        custom = set(declared_custom_fields(schema))
        validator = Draft7Validator(run.schema(stream)["schema"])
        for record in run.records(stream):
            validator.validate(record)
            assert set(record) <= declared, set(record) - declared
            assert "aiSummary" not in record
            assert set(record.get(CF) or {}) <= custom
        if selection == "some fields":
            keys = {ENDPOINTS_BY_NAME[stream].primary_key, ENDPOINTS_BY_NAME[stream].replication_key}
            assert {name for r in run.records(stream) for name in r} <= keys | {"title", CF}

    again = run_tap(tmp_path, config, catalog=choose(discover(tmp_path, config), wanted))  # discovered again
    assert again.returncode == 0, again.stderr
    assert not [line for line in warnings(again.stderr) if UNDECLARED in line], again.stderr
    if selection == "all fields":
        assert all(r["aiSummary"] == "Zákazník chce změnit tarif." for r in again.records("tickets"))
        assert all("vin" in r[CF] for r in again.records("tickets"))

        flat = run_tap(tmp_path, {**config, "flatten_records": True}, catalog=choose(old, wanted))  # old catalog
        assert flat.returncode == 0, flat.stderr
        assert len([line for line in warnings(flat.stderr) if UNDECLARED in line]) == 2, flat.stderr
        for stream, schema in before.items():
            columns = set(flatten_schema(schema)["properties"])
            assert set(flat.schema(stream)["schema"]["properties"]) == columns
            for record in flat.records(stream):
                assert set(record) <= columns, set(record) - columns
                assert "aiSummary" not in record and f"{CF}_vin" not in record and f"{CF}_vip" not in record


def test_discovery_reads_one_sample_per_stream_within_the_concurrency_budget(sim, tmp_path):
    sim.knobs.latency_ms = 40
    sim.reset_counters()
    catalog = discover(tmp_path, tap_config(sim, max_concurrent_requests=3))
    assert dict(sim.counters.list_requests) == {endpoint.name: 1 for endpoint in ENDPOINTS}
    assert 1 < sim.counters.peak_in_flight <= 3
    assert declared_custom_fields(schema_of(catalog, "contacts"))


def test_discovery_retries_a_transient_error_like_any_other_request(fresh_sim, tmp_path):
    fresh_sim.knobs.fail_endpoint = {"contacts": [503], "tickets": [429]}
    fresh_sim.knobs.retry_after = 0
    run = run_tap(tmp_path, tap_config(fresh_sim), "--discover")
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run.stdout)
    assert fresh_sim.counters.by_status[503] == 1 and fresh_sim.counters.by_status[429] == 1
    assert set(declared_custom_fields(schema_of(catalog, "contacts"))) == set(fresh_sim.custom_fields("contacts"))
    assert set(declared_custom_fields(schema_of(catalog, "tickets"))) == set(fresh_sim.custom_fields("tickets"))


# ----------------------------------------------------------------------------------------------- 4. offline


def test_discover_without_credentials_is_static_without_a_request(sim, tmp_path):
    sim.reset_counters()
    run = run_tap(tmp_path, {"url": sim.url}, "--discover")
    assert run.returncode == 0, run.stderr
    assert sim.counters.requests == 0
    assert len(warnings(run.stderr)) == 1, run.stderr
    catalog = json.loads(run.stdout)
    assert {item["tap_stream_id"]: item["schema"] for item in catalog["streams"]} == STATIC


@pytest.mark.parametrize("case", ["closed port", "refused login"])
def test_discover_against_an_instance_it_cannot_use_is_static_with_one_warning(sim, tmp_path, case):
    if case == "closed port":
        config = tap_config(sim, url=f"http://127.0.0.1:{closed_port()}")
    else:
        config = tap_config(sim, password="not-the-password")
    started = time.monotonic()
    run = run_tap(tmp_path, config, "--discover", timeout=60)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert elapsed < 15, f"discovery took {elapsed:.1f} s"
    assert len(warnings(run.stderr)) == 1, run.stderr
    assert "not-the-password" not in run.stderr + run.stdout
    catalog = json.loads(run.stdout)
    assert {item["tap_stream_id"]: item["schema"] for item in catalog["streams"]} == STATIC


def test_forbidden_and_missing_endpoints_keep_their_static_schema(sim, tmp_path):
    sim.knobs.forbidden_endpoints = {"contacts"}
    sim.knobs.missing_endpoints = {"activitiesSms"}
    run = run_tap(tmp_path, tap_config(sim), "--discover")
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run.stdout)
    assert schema_of(catalog, "contacts") == STATIC["contacts"]
    assert schema_of(catalog, "activitiesSms") == STATIC["activitiesSms"]
    assert declared_custom_fields(schema_of(catalog, "tickets"))  # the others are still live
    lines = warnings(run.stderr)
    assert len(lines) == 2, lines
    assert any("'contacts'" in line and "403" in line for line in lines), lines
    assert any("'activitiesSms'" in line and "404" in line for line in lines), lines


def test_about_needs_no_network(sim, tmp_path):
    sim.reset_counters()
    run = run_tap(tmp_path, tap_config(sim), "--about", "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["name"] == "tap-daktela"
    assert sim.counters.requests == 0
    bare = subprocess.run([str(BIN / "tap-daktela"), "--about"], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 0 and "tap-daktela" in bare.stdout, bare.stderr


# ----------------------------------------------------------------------------------------------- 5. selection


SELECTIONS = {
    "customFields whole": (["title", "customFields"], None),
    "one multi-valued field": (["title", "customFields.number"], {"number"}),
    "one single-valued field": (["customFields.segment"], {"segment"}),
    "two fields": (["customFields.email", "customFields.segment"], {"email", "segment"}),
}


@pytest.mark.parametrize("flat", [False, True], ids=["singer", "flat"])
@pytest.mark.parametrize("selection", list(SELECTIONS))
def test_custom_fields_selected_whole_or_one_by_one(sim, live_catalog, tmp_path, selection, flat):
    fields, only = SELECTIONS[selection]
    declared = declared_custom_fields(schema_of(live_catalog, "contacts"))
    assert {"number", "email", "segment"} <= set(declared) and not declared["segment"]
    catalog = choose(live_catalog, {"contacts": fields})
    run = run_tap(tmp_path, tap_config(sim, flatten_records=flat), catalog=catalog)
    assert run.returncode == 0, run.stderr
    raw = assert_records_match_simulator(run, sim, "contacts")
    chosen = set(declared) if only is None else only
    columns = run.schema("contacts")["schema"]["properties"]
    if flat:
        assert {c for c in columns if c.startswith(f"{CF}_")} == {f"{CF}_{name}" for name in chosen}
    else:
        assert set(columns[CF]["properties"]) == chosen
    for record in run.records("contacts"):
        source = raw[record["name"]][CF]
        if flat:
            assert flat_cf_cells(record) == expected_flat_cells(source, declared, chosen), record["name"]
        else:
            assert record[CF] == expected_custom_fields(source, declared, chosen), record["name"]
        assert not {"firstname", "lastname", "user", "database"} & set(record)
    emitted = {key for r in run.records("contacts") for key in (flat_cf_cells(r) if flat else r[CF])}
    assert emitted == ({f"{CF}_{n}" for n in chosen} if flat else chosen)


# ----------------------------------------------------------------------------------------------- 6. real samples


def sample_records(name: str) -> list[dict]:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    result = json.loads(path.read_text("utf-8-sig"))["result"]
    data = result.get("data", [result]) if isinstance(result, dict) else []
    if isinstance(data, dict):
        data = list(data.values())
    return [record for record in data if isinstance(record, dict)]


@pytest.mark.parametrize("mode", ["keys", "full"])
@pytest.mark.parametrize("name", list(SAMPLE_STREAMS))
def test_real_samples_lose_no_top_level_field(name, mode):
    stream = SAMPLE_STREAMS[name]
    records = sample_records(name)
    assert records, name
    stream_type = next(s for s in STREAM_TYPES if s.name == stream)
    schema = schema_for_mode(stream, live_schema(stream_type.static_schema, records), mode)
    for path in walk_property_names(schema):
        assert not INTERNALS & set(path), path
    shaper = RecordShaper(schema, LocalTimeConverter("Europe/Prague"), references=references(stream))
    for record in records:
        shaper.note_undeclared(record)
        out = shaper(record)
        missing = set(record) - INTERNALS - {"_access"} - set(out)
        assert not missing, f"{name}: fields lost: {sorted(missing)}"
        custom = record.get(CF)
        if isinstance(custom, dict):
            assert set(custom) <= set(out[CF]), f"{name}: custom fields lost: {sorted(set(custom) - set(out[CF]))}"
        assert not INTERNALS & set(out)
    assert not {name for name in shaper.undeclared if name != "_access"}, shaper.undeclared


@pytest.mark.parametrize(
    ("name", "stream"),
    [("contacts-2.json", "contacts"), ("crm-record-2026.json", "crmRecords"), ("ticket-read.json", "tickets")],
)
def test_real_samples_declare_their_custom_fields_from_cf_scheme(name, stream):
    records = sample_records(name)
    scheme = records[0]["_sys"]["cfScheme"]
    assert scheme
    static = next(s for s in STREAM_TYPES if s.name == stream).static_schema
    declared = declared_custom_fields(live_schema(static, records))
    assert list(declared) == list(scheme)
    assert declared == {field: spec.get("multiple") is not False for field, spec in scheme.items()}


@pytest.mark.parametrize("name", list(SAMPLE_STREAMS))
def test_discovery_keeps_only_what_it_reads_of_a_sample(name):
    """A sampled record is cut to what discovery reads (a real CRM record is ~310 KB): same schema, same fields."""
    stream = SAMPLE_STREAMS[name]
    records = sample_records(name)
    static = next(s for s in STREAM_TYPES if s.name == stream).static_schema
    kept = [what_discovery_needs(record, static["properties"]) for record in records]
    assert live_schema(static, kept) == live_schema(static, records)
    assert fields_of(kept) == fields_of(records)
    assert len(orjson.dumps(kept)) <= len(orjson.dumps(records))
