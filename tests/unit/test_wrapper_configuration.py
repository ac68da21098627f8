"""Configuration validation: every bad input gives exactly one clear line; defaults follow the production component."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keboola_wrapper.configuration import ConfigError, EndpointSelection, endpoint_names, parse_config, parse_selection
from tap_daktela.endpoints import ENDPOINTS

COMPONENT_CONFIG = Path(__file__).resolve().parents[2] / "component_config"
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
VALID = {
    "connection": {"url": "https://demo.daktela.com/", "username": "u", "#password": "p4ss-word"},
    "data_selection": {
        "date_from": "7 days ago",
        "date_to": "today",
        "endpoints": [{"endpoint": "contacts", "fields": ["name", "title"]}, {"endpoint": "users"}],
    },
}


def with_(path: str, value):
    params = copy.deepcopy(VALID)
    *parents, key = path.split(".")
    node = params
    for p in parents:
        node = node.setdefault(p, {})
    if value is KeyError:
        node.pop(key, None)
    else:
        node[key] = value
    return params


def test_valid_config_and_defaults():
    cfg = parse_config(VALID, now=NOW)
    assert cfg.url == "https://demo.daktela.com"
    assert cfg.endpoints == (EndpointSelection("contacts", ("name", "title")), EndpointSelection("users", ()))
    assert (cfg.verify_ssl, cfg.incremental, cfg.debug) == (True, False, False)
    assert (cfg.batch_size, cfg.max_concurrent_requests, cfg.max_concurrent_endpoints) == (1000, 10, 3)
    assert "p4ss-word" not in repr(cfg)


def test_date_defaults_and_legacy_format():
    cfg = parse_config(with_("data_selection", {"endpoints": ["tickets"]}), now=NOW)
    assert (cfg.date_from, cfg.date_to) == ("7 days ago", "today")
    assert parse_config(with_("data_selection.date_from", "-7"), now=NOW).date_from == "7 days ago"
    assert cfg.endpoints == (EndpointSelection("tickets"),)


def test_batch_size_above_limit_is_capped_with_log(caplog):
    with caplog.at_level("INFO"):
        cfg = parse_config(with_("advanced", {"batch_size": 5000}), now=NOW)
    assert cfg.batch_size == 1000
    assert "batch_size 5000 is above the Daktela API maximum; using 1000." in caplog.text


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("connection.url", KeyError, "Missing required parameter 'connection.url'."),
        ("connection.url", "  ", "Missing required parameter 'connection.url'."),
        (
            "connection.url",
            "demo.daktela.com",
            "Invalid configuration: 'connection.url' must start with https:// (got 'demo.daktela.com').",
        ),
        ("connection.username", KeyError, "Missing required parameter 'connection.username'."),
        ("connection.#password", KeyError, "Missing required parameter 'connection.#password'."),
        ("connection.#password", "", "Missing required parameter 'connection.#password'."),
        (
            "connection.verify_ssl",
            "yes",
            "Invalid configuration: 'connection.verify_ssl' must be true or false, got 'yes'.",
        ),
        (
            "data_selection.date_from",
            "last tuesday",
            "Invalid date in 'data_selection.date_from': 'last tuesday' (use e.g. 'today', 'yesterday', "
            "'7 days ago', '2024-01-31' or '2024-01-31T08:00:00').",
        ),
        (
            "data_selection.date_to",
            "2024-13-45",
            "Invalid date in 'data_selection.date_to': '2024-13-45' (use e.g. 'today', 'yesterday', "
            "'7 days ago', '2024-01-31' or '2024-01-31T08:00:00').",
        ),
        (
            "data_selection.date_from",
            "tomorrow",
            "Invalid date in 'data_selection.date_from': 'tomorrow' (use e.g. 'today', 'yesterday', "
            "'7 days ago', '2024-01-31' or '2024-01-31T08:00:00').",
        ),
        (
            "data_selection.date_from",
            "2024-06-20",
            "Invalid date range: 'data_selection.date_from' (2024-06-20) is after 'data_selection.date_to' (today).",
        ),
        (
            "data_selection.endpoints",
            [{"endpoint": "calls"}],
            "Unknown endpoint 'calls'; valid endpoints: " + ", ".join(endpoint_names()) + ".",
        ),
        ("data_selection.endpoints", [], "No endpoints selected: add at least one item to 'data_selection.endpoints'."),
        ("data_selection.endpoints", ["users", "users"], "Endpoint 'users' is configured more than once."),
        (
            "data_selection.endpoints",
            [{"endpoint": "users", "fields": "name"}],
            "Invalid configuration: 'fields' of endpoint 'users' must be a list of field names.",
        ),
        ("advanced.batch_size", 0, "Invalid configuration: 'advanced.batch_size' must be at least 1, got 0."),
        ("advanced.batch_size", "many", "Invalid configuration: 'advanced.batch_size' must be an integer, got 'many'."),
        (
            "advanced.max_concurrent_requests",
            0,
            "Invalid configuration: 'advanced.max_concurrent_requests' must be between 1 and 50, got 0.",
        ),
        (
            "advanced.max_concurrent_requests",
            51,
            "Invalid configuration: 'advanced.max_concurrent_requests' must be between 1 and 50, got 51.",
        ),
        (
            "advanced.max_concurrent_endpoints",
            21,
            "Invalid configuration: 'advanced.max_concurrent_endpoints' must be between 1 and 20, got 21.",
        ),
        (
            "destination.incremental",
            "true",
            "Invalid configuration: 'destination.incremental' must be true or false, got 'true'.",
        ),
    ],
)
def test_bad_input_gives_one_exact_line(path, value, message):
    with pytest.raises(ConfigError) as info:
        parse_config(with_(path, value), now=NOW)
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert "p4ss-word" not in str(info.value)


def test_selection_only_needs_no_credentials():
    assert parse_selection({"data_selection": {"endpoints": [{"endpoint": "users", "fields": []}]}}) == (
        EndpointSelection("users"),
    )
    assert parse_selection({}) == ()


ROW = {
    "connection": VALID["connection"],
    "advanced": {"max_concurrent_endpoints": 2},
    "debug": False,
    "endpoint": "tickets",
    "date_from": "2024-06-01",
    "date_to": "2024-06-10",
    "fields": ["title", "customFields.email"],
    "destination": {"load_type": "incremental_load", "primary_key": ["name"]},
}


def test_row_shape_gives_one_endpoint_with_its_window_and_load_type():
    cfg = parse_config(ROW, now=NOW)
    assert cfg.endpoints == (EndpointSelection("tickets", ("title", "customFields.email"), ("name",)),)
    assert (cfg.date_from, cfg.date_to, cfg.incremental, cfg.max_concurrent_endpoints) == (
        "2024-06-01",
        "2024-06-10",
        True,
        2,
    )
    full = parse_config({**ROW, "destination": {"load_type": "full_load"}}, now=NOW)
    assert full.incremental is False and full.endpoints[0].primary_key == ()
    assert parse_selection(ROW) == cfg.endpoints


def test_row_and_list_shape_give_the_same_config():
    row = {key: value for key, value in ROW.items() if key != "destination"} | {"fields": ["title"]}
    listed = {
        "connection": ROW["connection"],
        "advanced": ROW["advanced"],
        "data_selection": {
            "date_from": "2024-06-01",
            "date_to": "2024-06-10",
            "endpoints": [{"endpoint": "tickets", "fields": ["title"]}],
        },
    }
    assert parse_config(row, now=NOW) == parse_config(listed, now=NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpoint": "calls"}, "Unknown endpoint 'calls'; valid endpoints: "),
        ({"endpoint": ""}, "Invalid configuration: 'endpoint' must name an endpoint."),
        ({"date_from": "someday"}, "Invalid date in 'date_from': 'someday'"),
        ({"date_from": "2024-06-20"}, "Invalid date range: 'date_from' (2024-06-20) is after 'date_to' (2024-06-10)."),
        ({"fields": "title"}, "Invalid configuration: 'fields' of endpoint 'tickets' must be a list of field names."),
        (
            {"destination": {"load_type": "append"}},
            "Invalid configuration: 'destination.load_type' must be one of full_load, incremental_load, got 'append'.",
        ),
        (
            {"destination": {"primary_key": [1]}},
            "Invalid configuration: 'destination.primary_key' must be a list of column names.",
        ),
        (
            {"data_selection": {"endpoints": ["users"]}},
            "Invalid configuration: give either a row's 'endpoint' or the list 'data_selection.endpoints', not both.",
        ),
        ({"nested_objects": "deep"}, "Invalid configuration: 'nested_objects' must be 'keys' or 'full', got 'deep'."),
    ],
)
def test_bad_row_gives_one_line(change, message):
    with pytest.raises(ConfigError) as info:
        parse_config({**ROW, **change}, now=NOW)
    assert str(info.value).startswith(message)


def test_nested_objects_and_ca_bundle():
    assert parse_config(VALID, now=NOW).nested_objects == "keys"
    cfg = parse_config(with_("data_selection.nested_objects", "full"), now=NOW)
    assert cfg.nested_objects == "full"
    with pytest.raises(ConfigError, match=r"'data_selection\.nested_objects' must be 'keys' or 'full', got 'deep'"):
        parse_config(with_("data_selection.nested_objects", "deep"), now=NOW)
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert parse_config(with_("connection.ca_bundle", pem), now=NOW).ca_bundle == pem
    assert parse_config(with_("connection.ca_bundle", ""), now=NOW).ca_bundle is None


def test_config_schemas_list_every_endpoint_of_the_table():
    names = [endpoint.name for endpoint in ENDPOINTS]
    listed = json.loads((COMPONENT_CONFIG / "configSchema.json").read_text())
    item = listed["properties"]["data_selection"]["properties"]["endpoints"]["items"]
    assert sorted(item["properties"]["endpoint"]["enum"]) == sorted(names)
    row = json.loads((COMPONENT_CONFIG / "configRowSchema.json").read_text())
    assert sorted(row["properties"]["endpoint"]["enum"]) == sorted(names)
