"""Translation of the configuration into tap settings, a one-stream catalog and per-stream state."""

from __future__ import annotations

import pytest

from keboola_wrapper.configuration import Config, EndpointSelection
from keboola_wrapper.translation import plan_stream, requests_share, select_stream, selected_schema, stream_state

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
        tuple(m["breadcrumb"]): m["metadata"].get("selected") for m in entry["metadata"] if len(m["breadcrumb"]) == 2
    }


def test_select_fields_keeps_keys_and_deselects_others():
    entry = select_stream(ENTRY, ("title",))
    assert next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]["selected"] is True
    assert selected(entry) == {
        ("properties", "name"): True,
        ("properties", "title"): True,
        ("properties", "edited"): True,
        ("properties", "user"): False,
    }
    assert list(selected_schema(entry)["properties"]) == ["name", "title", "edited"]
    assert "selected" not in ENTRY["metadata"][0]["metadata"]  # the discovered catalog is not mutated


def test_no_fields_selects_everything():
    assert all(selected(select_stream(ENTRY, ())).values())


def test_unknown_field_is_ignored_with_a_warning(caplog):
    entry = select_stream(ENTRY, ("title", "bogus"))
    assert caplog.messages == [
        "Ignoring unknown field(s) 'bogus' of endpoint 'contacts'; valid fields: name, title, edited, user."
    ]
    assert {crumb[1] for crumb, chosen in selected(entry).items() if chosen} == {"name", "title", "edited"}


def test_plan_windowed_stream_with_bookmark():
    state = {"bookmarks": {"contacts": {"replication_key": "edited", "replication_key_value": "2024-01-01"}}}
    plan = plan_stream(CONFIG, EndpointSelection("contacts"), {"contacts": ENTRY}, "tok", 4, state, "Europe/Prague")
    assert plan.tap_config == {
        "url": "https://x.daktela.com",
        "access_token": "tok",
        "page_size": 500,
        "max_concurrent_requests": 4,
        "verify_ssl": True,
        "flatten_records": True,
        "timezone": "Europe/Prague",
        "start_date": "7 days ago",
        "end_date": "today",
    }
    assert "password" not in plan.tap_config
    assert plan.state == {"bookmarks": {"contacts": state["bookmarks"]["contacts"]}}
    assert plan.primary_key == ("name",) and plan.replication_key == "edited"
    assert [s["tap_stream_id"] for s in plan.catalog["streams"]] == ["contacts"]


def test_non_windowed_stream_gets_no_window_and_full_refresh_ignores_state():
    entry = {**ENTRY, "tap_stream_id": "accounts", "stream": "accounts"}
    plan = plan_stream(CONFIG, EndpointSelection("accounts"), {"accounts": entry}, "tok", 1, {})
    assert "start_date" not in plan.tap_config and "end_date" not in plan.tap_config
    assert plan.state is None
    assert stream_state("contacts", {"bookmarks": {"contacts": {"x": 1}}}, incremental=False) is None


@pytest.mark.parametrize(("budget", "endpoints", "parallel", "share"), [(10, 15, 3, 3), (10, 1, 3, 10), (2, 5, 4, 1)])
def test_request_budget_is_split_across_running_pipelines(budget, endpoints, parallel, share):
    assert requests_share(budget, endpoints, parallel) == share
