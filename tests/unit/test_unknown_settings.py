"""Unknown settings: one warning naming the key and the closest valid one, for the tap's and the component's."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from keboola_wrapper.configuration import KNOWN_SETTINGS, parse_config, unknown_settings
from tap_daktela.unknown_settings import setting_names, unknown_setting_warnings

COMPONENT_CONFIG = Path(__file__).resolve().parents[2] / "component_config"


def test_closest_valid_name_is_suggested():
    assert unknown_setting_warnings(["pagesize", "url"], ["url", "page_size", "max_retries"]) == [
        "unknown setting 'pagesize'; did you mean 'page_size'?"
    ]


def test_a_key_like_nothing_is_said_to_be_ignored():
    assert unknown_setting_warnings(["zzz"], ["url", "page_size"]) == ["unknown setting 'zzz'; it is ignored"]


def test_case_does_not_hide_the_suggestion():
    assert unknown_setting_warnings(["PAGE_SIZE"], ["page_size"]) == [
        "unknown setting 'PAGE_SIZE'; did you mean 'page_size'?"
    ]


def test_where_prefixes_key_and_suggestion():
    assert unknown_setting_warnings(["batchsize"], ["batch_size"], "advanced.") == [
        "unknown setting 'advanced.batchsize'; did you mean 'advanced.batch_size'?"
    ]


def test_tap_settings_include_the_sdk_builtins():
    from tap_daktela.tap import TapDaktela

    names = setting_names(TapDaktela)
    assert {"url", "page_size", "metrics_log_level", "stream_maps", "stream_map_config", "flattening_enabled"} <= set(
        names
    )


def valid_component_params() -> dict:
    return {
        "connection": {"url": "https://x.daktela.com", "username": "u", "#password": "p", "verify_ssl": True},
        "data_selection": {
            "date_from": "7 days ago",
            "date_to": "today",
            "nested_objects": "keys",
            "endpoints": [{"endpoint": "tickets", "fields": []}],
        },
        "destination": {"incremental": False},
        "advanced": {"batch_size": 100, "max_concurrent_requests": 10, "max_concurrent_endpoints": 3},
        "debug": False,
    }


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [
        ("advanced", "batchsize", "unknown setting 'advanced.batchsize'; did you mean 'advanced.batch_size'?"),
        (
            "data_selection",
            "date_form",
            "unknown setting 'data_selection.date_form'; did you mean 'data_selection.date_from'?",
        ),
        ("connection", "password", "unknown setting 'connection.password'; did you mean 'connection.#password'?"),
        (
            "destination",
            "incremantal",
            "unknown setting 'destination.incremantal'; did you mean 'destination.incremental'?",
        ),
        (None, "debugg", "unknown setting 'debugg'; did you mean 'debug'?"),
    ],
)
def test_component_unknown_setting_is_one_warning(caplog, section, key, expected):
    params = valid_component_params()
    (params[section] if section else params)[key] = "x"
    with caplog.at_level(logging.WARNING):
        config = parse_config(params)
    assert config.endpoints[0].endpoint == "tickets"  # still runs
    assert [r.getMessage() for r in caplog.records if "unknown setting" in r.getMessage()] == [expected]


def test_component_endpoint_entry_keys_are_checked():
    params = valid_component_params()
    params["data_selection"]["endpoints"] = [{"endpoint": "tickets", "field": ["name"]}, "users"]
    assert unknown_settings(params) == [
        "unknown setting 'data_selection.endpoints[].field'; did you mean 'data_selection.endpoints[].fields'?"
    ]


def test_valid_component_configurations_warn_about_nothing(caplog):
    row = {
        "connection": {"url": "https://x.daktela.com", "username": "u", "#password": "p"},
        "endpoint": "tickets",
        "date_from": "-7",
        "date_to": "today",
        "fields": [],
        "destination": {"load_type": "incremental_load", "primary_key": ["name"]},
    }
    with caplog.at_level(logging.WARNING):
        parse_config(valid_component_params())
        parse_config(row)
    assert not [r for r in caplog.records if "unknown setting" in r.getMessage()]


def schema_keys(schema: dict, where: str = "") -> dict[str, set[str]]:
    """Keys by section of a Keboola UI schema, in `KNOWN_SETTINGS`' notation."""
    found: dict[str, set[str]] = {}
    for key, value in (schema.get("properties") or {}).items():
        found.setdefault(where, set()).add(key)
        inner = f"{where}.{key}" if where else key
        if value.get("type") == "object":
            for section, keys in schema_keys(value, inner).items():
                found.setdefault(section, set()).update(keys)
        if value.get("type") == "array" and isinstance(value.get("items"), dict):
            for section, keys in schema_keys(value["items"], f"{inner}[]").items():
                found.setdefault(section, set()).update(keys)
    return found


def test_known_settings_are_what_the_ui_schemas_declare():
    declared: dict[str, set[str]] = {}
    for name in ("configSchema.json", "configRowSchema.json"):
        for section, keys in schema_keys(json.loads((COMPONENT_CONFIG / name).read_text())).items():
            declared.setdefault(section, set()).update(keys)
    assert {section: set(keys) for section, keys in KNOWN_SETTINGS.items()} == declared
