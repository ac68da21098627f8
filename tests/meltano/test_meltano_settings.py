"""meltano.yml restates the tap's settings for Meltano's UI; this keeps it equal to the tap's own `--about`."""

from __future__ import annotations

import json
import subprocess

import yaml

from tests.conftest import BIN, REPO

NOT_IN_MELTANO = {"batch_config"}  # the SDK's BATCH messages: target-csv does not read them
KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean", "object": "object"}


def about_settings() -> dict[str, dict]:
    about = subprocess.run(
        [str(BIN / "tap-daktela"), "--about", "--format", "json"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(about)["settings"]["properties"]


def meltano_settings() -> dict[str, dict]:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    extractor = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-daktela")
    return {setting["name"]: setting for setting in extractor["settings"]}


def expected_kind(prop: dict) -> str:
    if prop.get("secret"):
        return "password"
    if prop.get("enum"):
        return "options"
    return KINDS[next(kind for kind in prop["type"] if kind != "null")]


def test_meltano_yml_declares_every_setting_of_the_tap_and_no_other():
    about, meltano = about_settings(), meltano_settings()
    assert set(about) - NOT_IN_MELTANO == set(meltano)


def test_meltano_yml_settings_have_the_taps_kinds_defaults_and_choices():
    about, meltano = about_settings(), meltano_settings()
    for name, setting in meltano.items():
        prop = about[name]
        assert setting.get("kind") == expected_kind(prop), name
        assert setting.get("value") == prop.get("default"), name
        if prop.get("secret"):
            assert setting.get("sensitive") is True, name
        if prop.get("enum"):
            assert [option["value"] for option in setting["options"]] == [v for v in prop["enum"] if v is not None]
