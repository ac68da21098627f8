"""A Meltano-less Singer pipeline, `tap-daktela | target-postgres`, into a real PostgreSQL, night after night.

Every stream of the endpoint table, small data; inserts, updates and deletes in the simulator between runs.
Run 1 (no state) and run 3 (no state again: a whole read) must leave every table equal to the simulator;
run 2 (from run 1's state) must lose nothing, bring every change its bookmark can see and remove nothing from an
incremental table, while full tables (and the one stream run 2's state has no bookmark for) equal the simulator.
Deleted rows leave with `hard_delete`, else they stay marked with `_sdc_deleted_at`.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
from pathlib import Path

import psycopg
import pytest

from tap_daktela.endpoints import ENDPOINTS
from tests.conftest import BIN, select, tap_config
from tests.destination.changes import change_everything
from tests.destination.postgres_tables import (
    SCHEMA,
    assert_equal_to_simulator,
    assert_incremental_run,
    target_config,
)
from tests.simulator import DaktelaSimulator


def commands(workdir: Path, tap: dict, target: dict, state: dict | None, catalog: Path | None):
    """Write the configs (and state) into `workdir`; the tap's and the target's command lines and environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tap.json").write_text(json.dumps(tap))
    (workdir / "target.json").write_text(json.dumps(target))
    tap_command = [str(BIN / "tap-daktela"), "--config", "tap.json"]
    if catalog is not None:
        tap_command += ["--catalog", str(catalog)]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        tap_command += ["--state", "state.json"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TAP_DAKTELA_", "TARGET_POSTGRES_"))}
    return tap_command, [str(BIN / "target-postgres"), "--config", "target.json"], env


def singer_pipe(workdir: Path, tap: dict, target: dict, state: dict | None = None, catalog: Path | None = None) -> dict:
    """`tap-daktela --config tap.json [--state state.json] | target-postgres --config target.json`; the state the
    target emitted last (what a scheduler keeps for the next night)."""
    tap_command, target_command, env = commands(workdir, tap, target, state, catalog)
    with (workdir / "tap.log").open("w") as tap_log, (workdir / "target.log").open("w") as target_log:
        tap_process = subprocess.Popen(tap_command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=tap_log)
        target_process = subprocess.Popen(
            target_command, cwd=workdir, env=env, stdin=tap_process.stdout, stdout=subprocess.PIPE, stderr=target_log
        )
        tap_process.stdout.close()  # the target alone reads the pipe: the tap sees it close if the target dies
        try:
            out, _ = target_process.communicate(timeout=240)
            tap_process.wait(timeout=30)
        finally:
            for process in (tap_process, target_process):
                if process.poll() is None:
                    process.kill()
    assert tap_process.returncode == 0, (workdir / "tap.log").read_text()[-3000:]
    assert target_process.returncode == 0, (workdir / "target.log").read_text()[-3000:]
    states = [line for line in out.splitlines() if line.strip()]
    assert states, "the target emitted no state"
    return json.loads(states[-1])


def interrupted_pipe(workdir: Path, tap: dict, target: dict, catalog: Path, after_records: int) -> int:
    """The same pipe with the test relaying the lines, which sends the tap SIGTERM once `after_records` records
    passed, relays what the tap still writes and lets the target finish on end of input; the records relayed."""
    tap_command, target_command, env = commands(workdir, tap, target, None, catalog)
    records = 0
    with (workdir / "tap.log").open("w") as tap_log, (workdir / "target.log").open("w") as target_log:
        tap_process = subprocess.Popen(tap_command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=tap_log)
        target_process = subprocess.Popen(
            target_command, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=target_log
        )
        try:
            for line in tap_process.stdout:
                target_process.stdin.write(line)
                records += line.startswith(b'{"type":"RECORD"')
                if records == after_records:
                    tap_process.send_signal(signal.SIGTERM)
            target_process.stdin.close()
            tap_process.wait(timeout=30)
            target_process.wait(timeout=120)
        finally:
            for process in (tap_process, target_process):
                if process.poll() is None:
                    process.kill()
            tap_process.stdout.close()
    assert tap_process.returncode == 128 + signal.SIGTERM, (workdir / "tap.log").read_text()[-3000:]
    assert target_process.returncode == 0, (workdir / "target.log").read_text()[-3000:]
    return records


WHOLE = "contacts"  # the incremental stream whose bookmark run 2's state lacks


@pytest.mark.parametrize("hard_delete", [True, False], ids=["hard_delete", "soft_delete"])
def test_nights_of_singer_runs_keep_postgres_equal_to_daktela(tmp_path, postgres, database, hard_delete):
    with DaktelaSimulator(seed=23, scale="small") as sim, psycopg.connect(postgres.url(database)) as conn:
        conn.autocommit = True
        tap, target = tap_config(sim), target_config(postgres, database, hard_delete)

        state = singer_pipe(tmp_path / "run1", tap, target)
        for endpoint in ENDPOINTS:
            assert_equal_to_simulator(conn, sim, endpoint, hard_delete, gone=set())
        incremental = [e.name for e in ENDPOINTS if not e.full_table]
        assert set(incremental) <= set(state.get("bookmarks", {})), "run 1 should bookmark every incremental stream"

        first = change_everything(sim)
        del state["bookmarks"][WHOLE]  # a state without that stream: it alone is read whole
        state = singer_pipe(tmp_path / "run2", tap, target, state=state)
        for endpoint in ENDPOINTS:
            if endpoint.full_table or endpoint.name == WHOLE:
                assert_equal_to_simulator(conn, sim, endpoint, hard_delete, gone=first.deleted[endpoint.name])
            else:
                assert_incremental_run(conn, sim, endpoint, first)

        second = change_everything(sim)
        singer_pipe(tmp_path / "run3", tap, target)  # a whole read: no state
        for endpoint in ENDPOINTS:
            gone = first.deleted[endpoint.name] | second.deleted[endpoint.name]
            assert_equal_to_simulator(conn, sim, endpoint, hard_delete, gone=gone)


def test_an_interrupted_whole_read_removes_nothing(tmp_path, postgres, database, discovered_catalog):
    """ACTIVATE_VERSION comes after the last record: a whole read stopped half-way (SIGTERM, as a scheduler's
    timeout sends it) leaves every row the table had, where an early ACTIVATE_VERSION would have emptied it."""
    catalog = select(copy.deepcopy(discovered_catalog), {"tickets": None})
    with DaktelaSimulator(seed=31, scale="small", sizes={"tickets": 3000}) as sim:
        tap = tap_config(sim, page_size=100, max_concurrent_requests=1)
        target = target_config(postgres, database, hard_delete=True)
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        singer_pipe(tmp_path / "run1", tap, target, catalog=tmp_path / "catalog.json")
        with psycopg.connect(postgres.url(database)) as conn:
            before = {key for (key,) in conn.execute(f"SELECT name FROM {SCHEMA}.tickets")}
        assert len(before) == 3000

        relayed = interrupted_pipe(tmp_path / "run2", tap, target, tmp_path / "catalog.json", after_records=500)
        assert 500 <= relayed < 3000
        with psycopg.connect(postgres.url(database)) as conn:
            after = {key for (key,) in conn.execute(f"SELECT name FROM {SCHEMA}.tickets")}
        assert after == before
