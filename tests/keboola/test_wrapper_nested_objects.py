"""`data_selection.nested_objects` through the real component (`python -m keboola_wrapper`, real tap, real
target-csv) against the simulator: keys (the default) and full tables, their manifests and state, and a switch of
mode between two runs in both directions.

`test_wrapper_functional.test_nested_objects_switch_keeps_earlier_columns` covers keys -> full for tickets (every
keys column of tickets is also a full column); this module adds full -> keys, and keys -> full for activities,
whose keys-only columns (`item_name`, `item_id_call`) must stay in the table, empty.
"""

from __future__ import annotations

import copy
import csv
import json
import subprocess
from pathlib import Path

import pytest

from tap_daktela.endpoints import ENDPOINTS_BY_NAME
from tap_daktela.references import references
from tap_daktela.schemas import load_schema
from tests.embedded_copies import copies, models, regrouped
from tests.keboola.test_wrapper_functional import run as run_component

HERE = Path(__file__).parent
CREDENTIALS = ("accessToken", "apiToken", "oauthToken", "refreshToken", "password", "secret")
KEYS_ENDPOINTS = [
    "tickets",
    "activities",
    "activitiesCall",
    "activitiesEmail",
    "activitiesWap",
    "activitiesSms",
    "activitiesFbm",
    "users",
    "queues",
    "statuses",
    "ticketsCategories",
]


@pytest.fixture(scope="module")
def sim():
    from tests.simulator import DaktelaSimulator

    with DaktelaSimulator(seed=1, scale="small") as simulator:
        yield simulator


def config_for(url: str, endpoints: list[str], nested_objects: str | None) -> dict:
    config = json.loads((HERE / "field_selection" / "source" / "data" / "config.json").read_text())
    config["parameters"]["connection"]["url"] = url
    selection = config["parameters"]["data_selection"]
    selection["endpoints"] = [{"endpoint": endpoint, "fields": []} for endpoint in endpoints]
    if nested_objects is not None:
        selection["nested_objects"] = nested_objects
    else:
        selection.pop("nested_objects", None)
    return config


class Run:
    """One finished component run: its data folder's tables, manifests and state."""

    def __init__(self, data: Path, proc: subprocess.CompletedProcess) -> None:
        self.data = data
        self.proc = proc

    @property
    def state(self) -> dict:
        return json.loads((self.data / "out" / "state.json").read_text())

    def table(self, endpoint: str) -> tuple[list[str], list[dict]]:
        with (self.data / "out" / "tables" / f"{endpoint}.csv").open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            return list(reader.fieldnames or []), list(reader)

    def types(self, endpoint: str) -> dict[str, str]:
        """Column -> Keboola base type, in manifest order."""
        manifest = json.loads((self.data / "out" / "tables" / f"{endpoint}.csv.manifest").read_text())
        return {column["name"]: column["data_type"]["base"]["type"] for column in manifest["schema"]}


def run(config: dict, data: Path, state: dict | None = None) -> Run:
    """The component on a fresh data folder (the functional tests' runner: it also checks no secret is written)."""
    proc = run_component(config, data, config["parameters"]["connection"]["url"], state=state, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return Run(data, proc)


@pytest.fixture(scope="module")
def keys_run(sim, tmp_path_factory) -> Run:
    """The default mode: the configuration does not mention nested_objects."""
    return run(config_for(sim.url, KEYS_ENDPOINTS, None), tmp_path_factory.mktemp("keys") / "data")


@pytest.fixture(scope="module")
def full_run(sim, tmp_path_factory) -> Run:
    return run(
        config_for(sim.url, ["tickets", "activities", "activitiesCall"], "full"),
        tmp_path_factory.mktemp("full") / "data",
    )


def key_type(sim, target: str) -> str:
    """The Keboola type a key of `target` must have, from the simulator's own values."""
    values = [record[ENDPOINTS_BY_NAME[target].primary_key] for record in sim.records(target)]
    return "INTEGER" if all(isinstance(value, int) for value in values) else "STRING"


def assert_consistent(run_: Run, endpoint: str) -> list[str]:
    """CSV header, manifest columns and state columns are the same list; state types are the manifest's."""
    header, _ = run_.table(endpoint)
    types = run_.types(endpoint)
    assert list(types) == header, endpoint
    table_state = run_.state["tables"][endpoint]
    assert table_state["columns"] == header, endpoint
    assert table_state["types"] == types, endpoint
    return header


# ------------------------------------------------------------------------------------------------ keys (default)


@pytest.mark.parametrize("endpoint", KEYS_ENDPOINTS)
def test_keys_mode_is_the_default_with_typed_key_columns(sim, keys_run, endpoint):
    header = assert_consistent(keys_run, endpoint)
    types = keys_run.types(endpoint)
    assert types[ENDPOINTS_BY_NAME[endpoint].primary_key] == key_type(sim, endpoint)
    for prop, reference in references(endpoint).items():
        owned = [c for c in header if c == prop or c.startswith(f"{prop}_")]
        if reference.many:
            assert owned == [prop], (endpoint, prop, owned)
            assert types[prop] == "STRING"
            continue
        for target in reference.streams:
            column = f"{prop}_{ENDPOINTS_BY_NAME[target].primary_key}"
            assert column in owned, (endpoint, column)
            if not reference.polymorphic:
                assert types[column] == key_type(sim, target), (endpoint, column)
        assert set(owned) <= {f"{prop}_{ENDPOINTS_BY_NAME[t].primary_key}" for t in reference.streams} | {
            f"{prop}_title"
        }, (endpoint, prop, owned)


def test_keys_mode_tables(keys_run):
    types = keys_run.types("tickets")
    assert (types["name"], types["user_name"], types["user_title"]) == ("INTEGER", "STRING", "STRING")
    assert (types["id_merge_name"], types["parentTicket_name"], types["statuses"]) == ("INTEGER", "INTEGER", "STRING")
    assert not {"user_email", "user_role", "category_sla"} & set(types)
    calls = keys_run.types("activitiesCall")
    assert (calls["id_call"], calls["id_queue_name"], calls["id_queue_title"]) == ("STRING", "INTEGER", "STRING")
    assert "cdr_name" in calls and "id_queue_type" not in calls  # cdr is no reference: full treatment
    activities = keys_run.types("activities")
    assert {"item_name", "item_id_call"} <= set(activities) and "item" not in activities
    _, tickets = keys_run.table("tickets")
    assert any(json.loads(t["statuses"]) for t in tickets)
    assert all(isinstance(json.loads(t["statuses"]), list) for t in tickets if t["statuses"])
    assert all(t["name"].isdigit() for t in tickets)


def test_keys_mode_tables_join_on_keys(keys_run):
    def keys(endpoint: str, column: str = "name") -> set[str]:
        return {row[column] for row in keys_run.table(endpoint)[1]}

    _, tickets = keys_run.table("tickets")
    assert {t["user_name"] for t in tickets if t["user_name"]} <= keys("users")
    assert {t["category_name"] for t in tickets if t["category_name"]} <= keys("ticketsCategories")
    statuses = {s for t in tickets if t["statuses"] for s in json.loads(t["statuses"])}
    assert statuses and statuses <= keys("statuses")
    _, calls = keys_run.table("activitiesCall")
    queues = {c["id_queue_name"] for c in calls if c["id_queue_name"]}
    assert queues and queues <= keys("queues")
    _, activities = keys_run.table("activities")
    call_items = {a["item_id_call"] for a in activities if a["type"] == "CALL"}
    email_items = {a["item_name"] for a in activities if a["type"] == "EMAIL"}
    assert call_items and "" not in call_items and call_items <= keys("activitiesCall", "id_call")
    assert email_items and "" not in email_items and email_items <= keys("activitiesEmail")
    assert all(a["item_name"] == "" for a in activities if a["type"] == "CALL")


def test_no_credential_columns(keys_run):
    header, _ = keys_run.table("activitiesWap")
    assert [c for c in header if c.rsplit("_", 1)[-1] in CREDENTIALS] == []


def csv_copies(sim, run_: Run, endpoints: list[str]) -> set[tuple[str, str, str]]:
    """(table, path, model) of every cell, or group of `parent_child` cells, that holds a copy of a streamed model's
    record (see `tests.embedded_copies`; learned from the simulator's data, not from a list of columns)."""
    known = models({stream: sim.records(stream) for stream in ENDPOINTS_BY_NAME if stream in sim.tables})
    found = set()
    for endpoint in endpoints:
        schema = load_schema(endpoint)
        _, rows = run_.table(endpoint)
        assert rows, endpoint
        for row in rows:
            for column, value in regrouped(row, schema).items():
                found.update((endpoint, path.split("[")[0], model) for path, model in copies(value, known, column))
    return found


def test_keys_mode_no_cell_holds_a_copy_of_a_streamed_record(sim, keys_run, full_run):
    """Keys mode (the default): no cell of any table, at any depth of its JSON, is a copy of a user, a contact, a
    queue...: not `connector_user` of a messaging table, not `external_contact_crm_contact`. Full mode's are."""
    assert csv_copies(sim, keys_run, KEYS_ENDPOINTS) == set()
    _, sms = keys_run.table("activitiesSms")
    users = {row["name"] for row in keys_run.table("users")[1]}
    cells = [json.loads(row["connector_user"]) for row in sms if row["connector_user"]]
    assert cells and all(set(cell) == {"name", "title"} and cell["name"] in users for cell in cells)
    full = csv_copies(sim, full_run, ["tickets", "activities", "activitiesCall"])
    assert {("tickets", "user", "users"), ("activitiesCall", "id_queue", "queues")} <= full


# ------------------------------------------------------------------------------------------------ full


def test_full_mode_gives_the_embedded_copies(keys_run, full_run):
    for endpoint in ("tickets", "activities", "activitiesCall"):
        assert_consistent(full_run, endpoint)
    tickets = full_run.types("tickets")
    assert {"user_name", "user_title", "user_email", "category_sla", "contact_firstname"} <= set(tickets)
    assert (tickets["user_role"], tickets["user_static"], tickets["user_nps_score"]) == ("STRING", "BOOLEAN", "NUMERIC")
    assert set(keys_run.types("tickets")) < set(tickets)
    _, rows = full_run.table("tickets")
    assert any(r["user_email"] for r in rows)
    roles = [r["user_role"] for r in rows if r["user_role"]]
    assert roles and all(isinstance(json.loads(role), dict) for role in roles)  # deeper objects as JSON
    activities = full_run.types("activities")
    assert "item" in activities and not {"item_name", "item_id_call"} & set(activities)
    assert {"id_queue_type", "id_agent_email"} <= set(full_run.types("activitiesCall"))


# ------------------------------------------------------------------------------------------------ mode switch


def test_switch_full_then_keys_keeps_the_full_columns_empty(sim, full_run, tmp_path):
    second = run(config_for(sim.url, ["tickets", "activities"], "keys"), tmp_path / "keys", state=full_run.state)
    for endpoint in ("tickets", "activities"):
        earlier_header, _ = full_run.table(endpoint)
        header = assert_consistent(second, endpoint)
        assert header[: len(earlier_header)] == earlier_header, endpoint  # every earlier column, in its place
        types = second.types(endpoint)
        assert {c: types[c] for c in earlier_header} == full_run.types(endpoint), endpoint  # earlier types kept
    header, rows = second.table("tickets")
    assert len(rows) == len(sim.records("tickets"))
    assert all(r["user_email"] == "" and r["user_role"] == "" and r["category_sla"] == "" for r in rows)
    assert any(r["user_name"] for r in rows) and any(r["user_title"] for r in rows)
    header, rows = second.table("activities")
    assert {"item", "item_name", "item_id_call"} <= set(header)  # the full JSON column stays, the keys are added
    assert all(r["item"] == "" for r in rows)
    assert any(r["item_name"] for r in rows) and any(r["item_id_call"] for r in rows)
    assert "activitiesCall" in second.state["tables"]  # an endpoint not run keeps its entry


def test_switch_keys_then_full_keeps_the_keys_columns_empty(sim, keys_run, tmp_path):
    state = copy.deepcopy(keys_run.state)
    second = run(config_for(sim.url, ["activities"], "full"), tmp_path / "full", state=state)
    earlier_header, _ = keys_run.table("activities")
    header = assert_consistent(second, "activities")
    assert header[: len(earlier_header)] == earlier_header
    types = second.types("activities")
    assert types["item_name"] == "STRING" and types["item_id_call"] == "STRING"
    assert types["ticket_name"] == "INTEGER" and types["user_email"] == "STRING"
    _, rows = second.table("activities")
    assert len(rows) == len(sim.records("activities"))
    assert all(r["item_name"] == "" and r["item_id_call"] == "" for r in rows)
    items = [r["item"] for r in rows if r["item"]]
    assert items and all(isinstance(json.loads(item), dict) for item in items)
    assert second.state["tables"]["tickets"] == keys_run.state["tables"]["tickets"]  # not run: untouched
