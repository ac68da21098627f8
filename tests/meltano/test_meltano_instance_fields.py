"""Custom fields through the real Meltano CLI, in a temporary copy of the project as tests/meltano/test_meltano.py
does: `meltano select tap-daktela --list --all` lists the contacts' custom fields from live discovery, and
`meltano run tap-daktela target-csv` writes them as `customFields_<name>` columns. Two meltano invocations only
(each installs the plugin it needs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.meltano.test_meltano import meltano, read_csv, run_files
from tests.meltano_project import copy_project, user_env
from tests.simulator import DaktelaSimulator
from tests.tap.test_tap_instance_fields import expected_flat_cells

CF = "customFields"
# Meltano's select rules, overriding meltano.yml (which selects everything): contacts with two custom fields.
SELECT = ["contacts.title", "contacts.customFields.number", "contacts.customFields.segment"]
CHOSEN = {"number", "segment"}


@pytest.fixture(scope="module")
def sim():
    with DaktelaSimulator(seed=9, scale="small") as simulator:
        yield simulator


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project (its plugins are installed by the first meltano command that needs them)."""
    return copy_project(tmp_path_factory.mktemp("meltano-custom-fields"))


@pytest.fixture(scope="module")
def env(sim) -> dict[str, str]:
    """The user's shell with a selection of two contact custom fields."""
    return user_env(sim.url, TAP_DAKTELA__SELECT=json.dumps(SELECT))


def selection_lines(output: str) -> dict[str, str]:
    """`[selected ] contacts.customFields.number` lines of `meltano select --list --all` -> {property: status}."""
    found = {}
    for line in output.splitlines():
        match = re.search(r"\[(selected|excluded|automatic)\s*\]\s+(\S+)", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def test_meltano_lists_and_extracts_custom_fields(project, env, sim):
    scheme = {name: spec["multiple"] is not False for name, spec in sim.custom_fields("contacts").items()}
    assert set(scheme) >= CHOSEN and len(scheme) > len(CHOSEN)

    listed = meltano(project, "select", "tap-daktela", "--list", "--all", env=env)
    status = selection_lines(listed.stdout + listed.stderr)
    for name in scheme:
        assert f"contacts.{CF}.{name}" in status, f"contacts.{CF}.{name} is not listed"
    for name in CHOSEN:
        assert status[f"contacts.{CF}.{name}"] == "selected", name
    for name in set(scheme) - CHOSEN:
        assert status[f"contacts.{CF}.{name}"] == "excluded", name
    assert status["contacts.name"] == "automatic" and status["contacts.firstname"] == "excluded"

    meltano(project, "run", "tap-daktela", "target-csv", env=env)
    files = run_files(project / "output")
    assert sorted(files) == ["contacts"]
    header, rows = read_csv(files["contacts"])
    assert [column for column in header if column.startswith(f"{CF}_")] == [
        f"{CF}_{name}" for name in scheme if name in CHOSEN
    ]
    assert {"name", "edited", "title"} <= set(header) and "firstname" not in header
    raw = {record["name"]: record for record in sim.records("contacts")}
    names = [row["name"] for row in rows]
    assert len(names) == len(set(names)) and set(names) == set(raw)
    for row in rows:
        cells = {column: value for column, value in row.items() if column.startswith(f"{CF}_") and value != ""}
        assert cells == expected_flat_cells(raw[row["name"]][CF], scheme, CHOSEN), row["name"]
    assert any(row[f"{CF}_number"].startswith("[") for row in rows)  # multi-valued: a JSON array
    assert any(row[f"{CF}_segment"] and not row[f"{CF}_segment"].startswith("[") for row in rows)  # single: text
