"""The Keboola component over several nights, loaded the way Keboola Storage loads it.

A small model of Storage applies each run's output manifests (`incremental: true`: upsert by the manifest's primary
key; `false`: replace the table), and each run gets the previous run's out/state.json as in/state.json. Run 1 and
run 3 (`destination.incremental: false`, a whole read) must leave every table equal to the simulator; run 2
(incremental, from run 1's state) must lose nothing, bring every change its bookmark can see and remove nothing
from an incremental table, while full tables (always loaded full) equal the simulator again.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from tap_daktela.endpoints import ENDPOINTS, Endpoint
from tests.destination.changes import Changes, as_utc, change_everything, expected_table, text_field
from tests.keboola.test_wrapper_functional import run as run_component
from tests.simulator import DaktelaSimulator


class Storage:
    """Keboola Storage as far as loading goes: tables of rows keyed by their primary key."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple, dict[str, str]]] = {}
        self.loads: dict[str, bool] = {}  # table -> incremental flag of its last load

    def load(self, out_tables: Path) -> None:
        for manifest_path in sorted(out_tables.glob("*.csv.manifest")):
            manifest = json.loads(manifest_path.read_text())
            table = manifest_path.name.removesuffix(".csv.manifest")
            primary_key = [column["name"] for column in manifest["schema"] if column.get("primary_key")]
            assert primary_key, f"{table}: the manifest names no primary key"
            with manifest_path.with_suffix("").open(newline="", encoding="utf-8") as handle:
                rows = {tuple(row[c] for c in primary_key): row for row in csv.DictReader(handle)}
            if manifest["incremental"]:
                self.tables.setdefault(table, {}).update(rows)
            else:
                self.tables[table] = rows
            self.loads[table] = manifest["incremental"]

    def table(self, sim: DaktelaSimulator, endpoint: Endpoint) -> dict[str, dict]:
        """key -> the compared values in the simulator's terms (datetimes as UTC instants, an empty cell None)."""
        text = text_field(sim, endpoint)
        table = {}
        for (key,), row in self.tables[endpoint.name].items():
            values = {}
            if text:
                values[text] = row[text] or None
            if endpoint.replication_key:
                values[endpoint.replication_key] = as_utc(row[endpoint.replication_key], sim.timezone)
            table[key] = values
        return table


def expected(sim: DaktelaSimulator, endpoint: Endpoint) -> dict[str, dict]:
    """The simulator's table as a CSV can say it: no difference between an empty and a null text."""
    text = text_field(sim, endpoint)
    table = expected_table(sim, endpoint)
    for values in table.values():
        if text:
            values[text] = values[text] or None
    return table


def component_config(sim: DaktelaSimulator, incremental: bool) -> dict:
    return {
        "parameters": {
            "connection": {"url": sim.url, "username": "api_user", "#password": "s3cret-Pa55"},
            "data_selection": {
                "date_from": "30 years ago",
                "date_to": "now",
                "endpoints": [{"endpoint": endpoint.name} for endpoint in ENDPOINTS],
            },
            "destination": {"incremental": incremental},
            "advanced": {"max_concurrent_endpoints": 3},
        }
    }


def night(sim: DaktelaSimulator, data: Path, storage: Storage, incremental: bool, state: dict | None) -> dict:
    """One component run, loaded into Storage; the state Keboola keeps for the next run."""
    time.sleep(1.1)  # `date_to: now` is exclusive at whole seconds: a record changed this second is the next run's
    proc = run_component(component_config(sim, incremental), data, sim.url, state=state)
    assert proc.returncode == 0, proc.stderr[-3000:]
    storage.load(data / "out" / "tables")
    assert set(storage.loads) == {endpoint.name for endpoint in ENDPOINTS}
    return json.loads((data / "out" / "state.json").read_text())


def assert_equal_to_simulator(sim, storage: Storage, endpoint: Endpoint) -> None:
    assert storage.table(sim, endpoint) == expected(sim, endpoint), f"{endpoint.name} differs from the simulator"


def test_nights_of_component_runs_keep_storage_equal_to_daktela(tmp_path):
    storage = Storage()
    with DaktelaSimulator(seed=29, scale="small") as sim:
        state = night(sim, tmp_path / "run1", storage, incremental=True, state=None)
        for endpoint in ENDPOINTS:
            assert_equal_to_simulator(sim, storage, endpoint)
            assert storage.loads[endpoint.name] is not endpoint.full_table, endpoint.name

        changes: Changes = change_everything(sim)
        state = night(sim, tmp_path / "run2", storage, incremental=True, state=state)
        for endpoint in ENDPOINTS:
            assert storage.loads[endpoint.name] is not endpoint.full_table, endpoint.name
            if endpoint.full_table:  # loaded full every run: deletions leave at once
                assert_equal_to_simulator(sim, storage, endpoint)
                continue
            name, held, truth = endpoint.name, storage.table(sim, endpoint), expected(sim, endpoint)
            assert truth.keys() <= held.keys(), f"{name}: records lost"
            assert changes.deleted[name] <= held.keys(), f"{name}: an incremental run removed rows"
            for key in truth.keys() - changes.unseen_updates[name]:
                assert held[key] == truth[key], f"{name}: {key} differs from the simulator"

        change_everything(sim)
        night(sim, tmp_path / "run3", storage, incremental=False, state=state)  # the whole read, with the state
        for endpoint in ENDPOINTS:
            assert storage.loads[endpoint.name] is False, endpoint.name
            assert_equal_to_simulator(sim, storage, endpoint)
