"""Columns, manifests and state: valid names, typed manifest, columns never dropped, bookmarks merged."""

from __future__ import annotations

import csv
import json

from keboola.component import CommonInterface

from keboola_wrapper import tables as output


def test_sanitize_columns_valid_and_unique():
    assert output.sanitize_columns(["name", "_sys_id", "a-b", "A_b", "x" * 70]) == [
        "name",
        "sys_id",
        "a_b",
        "A_b_2",
        "x" * 64,
    ]


def test_types_from_flat_schema():
    flat = {
        "properties": {
            "name": {"type": ["integer", "null"]},
            "ok": {"type": ["boolean", "null"]},
            "n": {"type": ["number", "null"]},
            "edited": {"type": ["string", "null"], "format": "date-time"},
            "user_name": {"type": ["string", "null"]},
            "customFields": {"type": ["string", "null"], "contentMediaType": "application/json"},
        }
    }
    assert output.column_types(flat) == {
        "name": "INTEGER",
        "ok": "BOOLEAN",
        "n": "NUMERIC",
        "edited": "TIMESTAMP",
        "user_name": "STRING",
        "customFields": "STRING",
    }


def test_merge_columns_never_drops_an_earlier_column():
    assert output.merge_columns(["name", "title", "email"], ["name", "phone", "title"]) == [
        "name",
        "phone",
        "title",
        "email",
    ]


def test_finalize_csv_reorders_fills_and_renames(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('name,_x,title\n1,a,"multi\nline"\n2,,t\n', encoding="utf-8")
    output.finalize_csv(path, ["name", "_x", "title"], ["name", "phone", "title", "x"])
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["name", "phone", "title", "x"], ["1", "", "multi\nline", "a"], ["2", "", "t", ""]]


def test_manifest_has_pk_incremental_and_types(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"parameters": {}}))
    ci = CommonInterface(data_folder_path=str(tmp_path))
    output.write_table_manifest(
        ci, "tickets", ["name", "title", "edited"], {"name": "INTEGER", "edited": "TIMESTAMP"}, ["name"], True
    )
    manifest = json.loads((tmp_path / "out" / "tables" / "tickets.csv.manifest").read_text())
    assert manifest["incremental"] is True
    # keboola.component writes the new (typed) manifest: the primary key lives in the column schema
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["name"]
    assert manifest["has_header"] is True
    types = {c["name"]: c["data_type"]["base"]["type"] for c in manifest["schema"]}
    assert types == {"name": "INTEGER", "title": "STRING", "edited": "TIMESTAMP"}


def test_merge_state_keeps_old_entries_and_old_bookmark_when_none_new():
    previous = {
        "bookmarks": {"tickets": {"replication_key_value": "1"}, "users": {"x": 1}},
        "tables": {"tickets": {"columns": ["name", "old"]}, "users": {"columns": ["name"]}},
    }
    state = output.merge_state(
        previous,
        {"tickets": {"replication_key_value": "2"}, "contacts": None},
        {"tickets": {"columns": ["name", "old", "new"]}},
    )
    assert state["bookmarks"] == {"tickets": {"replication_key_value": "2"}, "users": {"x": 1}}
    assert state["tables"]["tickets"]["columns"] == ["name", "old", "new"]
    assert state["tables"]["users"] == {"columns": ["name"]}


def test_clashing_source_names_get_a_suffix_and_one_warning_naming_both(caplog):
    assert output.sanitize_columns(["name", "customFields_a-b", "customFields_a_b"], table="contacts") == [
        "name",
        "customFields_a_b",
        "customFields_a_b_2",
    ]
    assert caplog.messages == [
        "Table 'contacts': source fields 'customFields_a-b' and 'customFields_a_b' both give the column name "
        "'customFields_a_b'; 'customFields_a_b' is written as 'customFields_a_b_2'."
    ]
    caplog.clear()
    output.sanitize_columns(["a-b", "a_b"])  # without a table name: no warning (the same header is read again)
    assert caplog.messages == []


def test_missing_primary_key_columns():
    assert output.missing_columns(["name", "Email", "phone"], ["name", "email"]) == ["phone"]
