"""Custom fields through the real Keboola component (`python -m keboola_wrapper`, real tap, real target-csv)
against the simulator: `customFields_<name>` columns, their manifest types and state, selection of single custom
fields, a custom field added between two incremental runs, and the `listFields` sync action (issue 10).
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.keboola.test_wrapper_functional import load_case, manifest_of, rows, run
from tests.simulator import DaktelaSimulator
from tests.tap.test_tap_instance_fields import expected_flat_cells

CF = "customFields"


@pytest.fixture
def csim():
    """A simulator of its own: these tests add custom fields and update records."""
    with DaktelaSimulator(seed=3, scale="small") as simulator:
        yield simulator


def contacts_config(fields: list[str], *, incremental: bool = False) -> dict:
    config = load_case("field_selection")
    config["parameters"]["data_selection"]["endpoints"] = [{"endpoint": "contacts", "fields": fields}]
    config["parameters"]["destination"]["incremental"] = incremental
    return config


def scheme(sim: DaktelaSimulator) -> dict[str, bool]:
    """The instance's contact custom fields: name -> multiple (contacts carry `_sys.cfScheme`)."""
    return {name: spec["multiple"] is not False for name, spec in sim.custom_fields("contacts").items()}


def custom_columns(header: list[str]) -> list[str]:
    return [column for column in header if column.startswith(f"{CF}_")]


def manifest_types(manifest: dict) -> dict[str, str]:
    """Column -> Keboola base type, from the manifest's typed schema."""
    return {column["name"]: column["data_type"]["base"]["type"] for column in manifest["schema"]}


def assert_contact_rows(sim: DaktelaSimulator, records: list[dict], declared: dict[str, bool], only=None) -> None:
    """Each row once, and its custom-field cells exactly what the simulator holds (empty cell = unset)."""
    raw = {record["name"]: record for record in sim.records("contacts")}
    names = [row["name"] for row in records]
    assert len(names) == len(set(names)), "duplicate primary keys"
    assert set(names) <= set(raw)
    for row in records:
        cells = {column: value for column, value in row.items() if column.startswith(f"{CF}_") and value != ""}
        assert cells == expected_flat_cells(raw[row["name"]][CF], declared, only), row["name"]


def test_custom_fields_whole_become_typed_columns_kept_in_state(csim, tmp_path):
    declared = scheme(csim)
    assert declared["number"] and declared["email"]  # phones and e-mails are multi-valued custom fields
    data = tmp_path / "data"
    proc = run(contacts_config(["title", CF]), data, csim.url)
    assert proc.returncode == 0, proc.stderr
    table = data / "out" / "tables" / "contacts.csv"
    header, records = rows(table)
    assert custom_columns(header) == [f"{CF}_{name}" for name in declared]
    assert {"name", "title", "edited"} <= set(header) and CF not in header
    assert not {"firstname", "lastname"} & set(header)
    assert len(records) == len(csim.records("contacts"))
    assert_contact_rows(csim, records, declared)
    numbers = [row[f"{CF}_number"] for row in records if row[f"{CF}_number"]]
    assert numbers and all(isinstance(json.loads(cell), list) for cell in numbers)
    assert all("'" not in cell[:2] for cell in numbers)  # JSON, never a Python repr

    manifest = manifest_of(table)
    assert [column["name"] for column in manifest["schema"]] == header
    types = manifest_types(manifest)
    assert all(types[column] == "STRING" for column in custom_columns(header)), types
    state = json.loads((data / "out" / "state.json").read_text())
    assert state["tables"]["contacts"]["columns"] == header
    assert all(state["tables"]["contacts"]["types"][column] == "STRING" for column in custom_columns(header))


@pytest.mark.parametrize(
    ("fields", "only"),
    [
        (["customFields.number"], {"number"}),
        (["title", "customFields.segment", "customFields.email"], {"segment", "email"}),
    ],
)
def test_one_custom_field_at_a_time(csim, tmp_path, fields, only):
    declared = scheme(csim)
    assert only <= set(declared) and not declared["segment"]
    data = tmp_path / "data"
    proc = run(contacts_config(fields), data, csim.url)
    assert proc.returncode == 0, proc.stderr
    table = data / "out" / "tables" / "contacts.csv"
    header, records = rows(table)
    assert set(custom_columns(header)) == {f"{CF}_{name}" for name in only}
    assert ("title" in header) == ("title" in fields)
    assert len(records) == len(csim.records("contacts"))
    assert_contact_rows(csim, records, declared, only)
    assert [column["name"] for column in manifest_of(table)["schema"]] == header


def test_a_custom_field_added_between_incremental_runs_gets_its_column(csim, tmp_path):
    config = contacts_config(["title", CF], incremental=True)
    first = run(config, tmp_path / "run1", csim.url)
    assert first.returncode == 0, first.stderr
    first_header, _ = rows(tmp_path / "run1" / "out" / "tables" / "contacts.csv")
    state = json.loads((tmp_path / "run1" / "out" / "state.json").read_text())
    assert f"{CF}_vip" not in first_header

    csim.add_custom_field("contacts", "vip", multiple=False, type="SELECTBOX")
    changed = csim.records("contacts")[0]["name"]
    csim.update("contacts", changed)
    second = run(copy.deepcopy(config), tmp_path / "run2", csim.url, state=state)
    assert second.returncode == 0, second.stderr
    assert "does not declare" not in second.stdout + second.stderr  # discovered afresh: nothing undeclared

    table = tmp_path / "run2" / "out" / "tables" / "contacts.csv"
    header, records = rows(table)
    assert header[: len(first_header)] == first_header  # every earlier column kept, in its place
    assert header[len(first_header) :] == [f"{CF}_vip"]
    assert changed in {row["name"] for row in records}
    assert len(records) < len(csim.records("contacts"))  # incremental: only what changed since the bookmark
    assert_contact_rows(csim, records, scheme(csim))
    manifest = manifest_of(table)
    assert manifest["incremental"] is True
    assert [column["name"] for column in manifest["schema"]] == header
    assert manifest_types(manifest)[f"{CF}_vip"] == "STRING"
    state2 = json.loads((tmp_path / "run2" / "out" / "state.json").read_text())
    assert state2["tables"]["contacts"]["columns"] == header
    assert state2["tables"]["contacts"]["types"][f"{CF}_vip"] == "STRING"


def test_list_fields_names_each_custom_field(csim, tmp_path):
    csim.add_custom_field("contacts", "vip", multiple=True)
    config = load_case("list_fields")
    proc = run(config, tmp_path / "data", csim.url, timeout=30)
    assert proc.returncode == 0, proc.stderr
    fields = json.loads(proc.stdout)["contacts"]
    custom = [name for name in fields if name.startswith(f"{CF}.")]
    assert custom == [f"{CF}.{name}" for name in csim.custom_fields("contacts")]
    assert f"{CF}.vip" in custom and CF in fields
    assert fields.index(CF) < fields.index(custom[0])


def test_a_transient_error_during_discovery_keeps_the_custom_field_columns(csim, tmp_path):
    declared = scheme(csim)
    csim.knobs.fail_endpoint = {"contacts": [503]}
    data = tmp_path / "data"
    proc = run(contacts_config(["title", CF]), data, csim.url)
    assert proc.returncode == 0, proc.stderr
    header, records = rows(data / "out" / "tables" / "contacts.csv")
    assert custom_columns(header) == [f"{CF}_{name}" for name in declared]
    assert CF not in header
    assert_contact_rows(csim, records, declared)
