"""Translation of the configuration into tap settings, a one-stream catalog and per-stream state (pure)."""

from __future__ import annotations

import json

import pytest

from keboola_wrapper.configuration import Config, EndpointSelection
from keboola_wrapper.translation import (
    field_names,
    flat_schema,
    plain_catalog,
    plan_stream,
    requests_share,
    select_stream,
    selected_schema,
    stream_state,
    tap_settings,
)
from tap_daktela.endpoints import ENDPOINTS

CUSTOM = {
    "type": ["object", "null"],
    "properties": {
        "email": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
        "phone": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
        "vip": {"type": ["string", "null"]},
    },
}
ENTRY = {
    "tap_stream_id": "contacts",
    "stream": "contacts",
    "key_properties": ["name"],
    "replication_key": "edited",
    "schema": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "title": {"type": ["string", "null"]},
            "edited": {"type": ["string", "null"], "format": "date-time"},
            "user": {"type": ["object", "null"], "properties": {"name": {"type": "string"}}},
            "customFields": CUSTOM,
        },
    },
    "metadata": [
        {"breadcrumb": [], "metadata": {"table-key-properties": ["name"], "valid-replication-keys": ["edited"]}},
        {"breadcrumb": ["properties", "name"], "metadata": {"inclusion": "automatic"}},
        {"breadcrumb": ["properties", "title"], "metadata": {"inclusion": "available"}},
    ],
}
CONFIG = Config(url="https://x.daktela.com", username="u", password="pw", batch_size=500, incremental=True)


def selected(entry):
    return {
        tuple(m["breadcrumb"]): m["metadata"].get("selected") for m in entry["metadata"] if len(m["breadcrumb"]) >= 2
    }


def test_select_fields_keeps_keys_and_deselects_others():
    entry = select_stream(ENTRY, ("title",))
    assert next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]["selected"] is True
    assert selected(entry) == {
        ("properties", "name"): True,
        ("properties", "title"): True,
        ("properties", "edited"): True,
        ("properties", "user"): False,
        ("properties", "customFields"): False,
    }
    assert list(selected_schema(entry)["properties"]) == ["name", "title", "edited"]
    assert "selected" not in ENTRY["metadata"][0]["metadata"]  # the discovered catalog is not mutated


def test_no_fields_selects_everything():
    entry = select_stream(ENTRY, ())
    assert all(selected(entry).values())
    assert selected_schema(entry)["properties"] == ENTRY["schema"]["properties"]


def test_unknown_field_is_ignored_with_one_warning(caplog):
    entry = select_stream(ENTRY, ("title", "bogus", "customFields.nope"))
    assert caplog.messages == [
        "Ignoring unknown field(s) 'bogus', 'customFields.nope' of endpoint 'contacts'; valid fields: name, title, "
        "edited, user, customFields, customFields.email, customFields.phone, customFields.vip."
    ]
    assert {crumb[1] for crumb, chosen in selected(entry).items() if chosen} == {"name", "title", "edited"}


def test_named_custom_fields_select_their_breadcrumbs_only():
    entry = select_stream(ENTRY, ("customFields.email", "customFields.vip"))
    assert selected(entry) == {
        ("properties", "name"): True,
        ("properties", "title"): False,
        ("properties", "edited"): True,
        ("properties", "user"): False,
        ("properties", "customFields"): True,
        ("properties", "customFields", "properties", "email"): True,
        ("properties", "customFields", "properties", "phone"): False,
        ("properties", "customFields", "properties", "vip"): True,
    }
    schema = selected_schema(entry)
    assert list(schema["properties"]["customFields"]["properties"]) == ["email", "vip"]
    assert list(flat_schema(schema)["properties"]) == ["name", "edited", "customFields_email", "customFields_vip"]


def test_custom_fields_as_a_whole_selects_all_of_them():
    entry = select_stream(ENTRY, ("customFields", "customFields.email"))
    assert list(selected_schema(entry)["properties"]["customFields"]["properties"]) == ["email", "phone", "vip"]


def test_field_names_list_custom_fields_after_their_object():
    assert field_names(ENTRY) == [
        "name",
        "title",
        "edited",
        "user",
        "customFields",
        "customFields.email",
        "customFields.phone",
        "customFields.vip",
    ]
    free_form = {**ENTRY, "schema": {"properties": {"name": {}, "customFields": {"type": ["object", "null"]}}}}
    assert field_names(free_form) == ["name", "customFields"]


def test_plan_windowed_stream_with_bookmark():
    state = {"bookmarks": {"contacts": {"replication_key": "edited", "replication_key_value": "2024-01-01"}}}
    plan = plan_stream(CONFIG, EndpointSelection("contacts"), ENTRY, "tok", 4, state, "Europe/Prague")
    assert plan.tap_config == {
        "url": "https://x.daktela.com",
        "access_token": "tok",
        "verify_ssl": True,
        "timezone": "Europe/Prague",
        "nested_objects": "keys",
        "page_size": 500,
        "max_concurrent_requests": 4,
        "flatten_records": True,
        "activate_version": False,
        "start_date": "7 days ago",
        "end_date": "today",
    }
    assert "password" not in plan.tap_config
    assert plan.state == {"bookmarks": {"contacts": state["bookmarks"]["contacts"]}}
    assert plan.primary_key == ("name",)
    assert [s["tap_stream_id"] for s in plan.catalog["streams"]] == ["contacts"]


def test_row_primary_key_overrides_the_stream_key():
    plan = plan_stream(CONFIG, EndpointSelection("contacts", (), ("name", "title")), ENTRY, "tok", 1, {})
    assert plan.primary_key == ("name", "title")


def test_non_windowed_stream_gets_no_window_and_full_refresh_ignores_state():
    entry = {**ENTRY, "tap_stream_id": "accounts", "stream": "accounts"}
    plan = plan_stream(CONFIG, EndpointSelection("accounts"), entry, "tok", 1, {})
    assert "start_date" not in plan.tap_config and "end_date" not in plan.tap_config
    assert plan.state is None
    assert stream_state("contacts", {"bookmarks": {"contacts": {"x": 1}}}, incremental=False) is None


@pytest.mark.parametrize("endpoint", [e.name for e in ENDPOINTS])
def test_window_follows_the_endpoint_table(endpoint):
    settings = tap_settings(CONFIG, endpoint, "tok", 1)
    table = next(e for e in ENDPOINTS if e.name == endpoint)
    assert ("start_date" in settings) is table.windowed


def test_nested_objects_tls_and_ca_bundle_are_passed_through():
    config = Config(url="https://x", username="u", password="p", nested_objects="full", verify_ssl=True)
    settings = tap_settings(config, "users", "tok", 1, ca_bundle_path="/tmp/ca.pem")
    assert (settings["nested_objects"], settings["verify_ssl"], settings["ca_bundle"]) == ("full", True, "/tmp/ca.pem")
    unchecked = Config(url="https://x", username="u", password="p", verify_ssl=False)
    settings = tap_settings(unchecked, "users", "tok", 1, ca_bundle_path="/tmp/ca.pem")
    assert settings["verify_ssl"] is False and "ca_bundle" not in settings


def test_plain_catalog_is_json_data():
    catalog = {"streams": [{**ENTRY, "key_properties": ("name",)}]}
    plain = plain_catalog(catalog)
    assert plain["contacts"]["key_properties"] == ["name"]
    assert json.loads(json.dumps(plain)) == plain


@pytest.mark.parametrize(("budget", "endpoints", "parallel", "share"), [(10, 15, 3, 3), (10, 1, 3, 10), (2, 5, 4, 1)])
def test_request_budget_is_split_across_running_pipelines(budget, endpoints, parallel, share):
    assert requests_share(budget, endpoints, parallel) == share
