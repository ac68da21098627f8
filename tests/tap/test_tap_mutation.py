"""No loss when Daktela's data change while a stream is read, and no loss when a run is killed and resumed."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
import requests

from tests.conftest import BIN, run_tap, select, tap_config
from tests.simulator import DaktelaSimulator

TOKEN = "static-token-0123456789"
MUTATIONS = [("update", "tickets", None), ("delete", "tickets", None), ("insert", "tickets", None)] * 3


def naive_offset_walk(sim: DaktelaSimulator, take: int) -> set:
    """What plain skip/take paging over the `edited` order sees under the same mutations."""
    seen, skip = set(), 0
    while True:
        params = {"sort[0][field]": "edited", "sort[0][dir]": "asc", "skip": skip, "take": take}
        body = requests.get(f"{sim.url}/api/v6/tickets.json", params=params, headers={"X-AUTH-TOKEN": TOKEN}).json()
        seen |= {record["name"] for record in body["result"]["data"]}
        skip += take
        if skip >= int(body["result"]["total"]):
            return seen


def test_the_mutation_knob_really_breaks_offset_paging():
    with DaktelaSimulator(seed=5, scale="small") as sim:
        before = {record["name"] for record in sim.records("tickets")}
        sim.knobs.mutations = [("update", "tickets", None), ("delete", "tickets", None)] * 4
        seen = naive_offset_walk(sim, take=5)
        survivors = before & {record["name"] for record in sim.records("tickets")}
        assert survivors - seen, "a naive walk should lose records here, or the test below proves nothing"


@pytest.mark.parametrize("concurrency", [1, 3])
def test_records_changing_during_the_read_are_not_lost(tmp_path, discovered_catalog, concurrency):
    catalog = select(copy.deepcopy(discovered_catalog), {"tickets": None})
    with DaktelaSimulator(seed=5, scale="small") as sim:
        before = {record["name"] for record in sim.records("tickets")}
        sim.knobs.mutations = list(MUTATIONS)
        run = run_tap(tmp_path, tap_config(sim, page_size=5, max_concurrent_requests=concurrency), catalog=catalog)
        assert run.returncode == 0, run.stderr
        assert not sim.knobs.mutations, "every mutation should have happened during the read"
        after = {record["name"] for record in sim.records("tickets")}
    emitted = {record["name"] for record in run.records("tickets")}
    deleted = before - after
    assert deleted
    assert (before - deleted) <= emitted
    assert emitted <= before | after


def test_killed_run_resumes_without_loss(tmp_path, discovered_catalog):
    catalog = select(copy.deepcopy(discovered_catalog), {"tickets": None})
    with DaktelaSimulator(seed=9, scale="small", sizes={"tickets": 11_000}) as sim:
        everything = {record["name"] for record in sim.records("tickets")}
        config = tap_config(sim, page_size=500, max_concurrent_requests=2)
        (tmp_path / "config.json").write_text(json.dumps(config))
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        command = [str(BIN / "tap-daktela"), "--config", "config.json", "--catalog", "catalog.json"]
        first_names, state = set(), None
        with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as tap:
            for line in tap.stdout:
                message = json.loads(line)
                if message["type"] == "RECORD":
                    first_names.add(message["record"]["name"])
                elif message["type"] == "STATE" and message["value"].get("bookmarks", {}).get("tickets"):
                    state = message["value"]
                    break
            tap.kill()
        assert state is not None and len(first_names) < len(everything)
        second = run_tap(tmp_path, config, catalog=catalog, state=state)
        assert second.returncode == 0, second.stderr
        resumed = {record["name"] for record in second.records("tickets")}
        assert first_names | resumed == everything
        assert len(resumed) < len(everything)  # it resumed, it did not start over
