"""The Meltano recipe with a real destination: nightly `meltano run tap-daktela target-postgres` (state kept by
Meltano) plus a periodic `meltano run --full-refresh`, the whole read that removes what Daktela deleted.

The project's meltano.yml (a temporary copy) gets a target-postgres loader; both plugins run this environment's
executables (no `pip_url`: nothing is installed, the Singer pipe test already covers every stream, so a few do).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import yaml

from tap_daktela.endpoints import ENDPOINTS_BY_NAME
from tests.destination.changes import change_everything
from tests.destination.postgres_tables import assert_equal_to_simulator, assert_incremental_run, target_config
from tests.meltano_project import BIN, copy_project, run_meltano, user_env
from tests.simulator import DaktelaSimulator

STREAMS = ("tickets", "activities", "users")  # edited-keyed, creation-time-keyed, full table


def meltano_project(root: Path, postgres, database: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    project = copy_project(root)
    meltano_yml = yaml.safe_load((project / "meltano.yml").read_text())
    plugins = meltano_yml["plugins"]
    tap = plugins["extractors"][0]
    tap.pop("pip_url")
    tap["executable"] = str(BIN / "tap-daktela")
    tap["select"] = [f"{stream}.*" for stream in STREAMS]
    tap["config"]["flatten_records"] = False  # a database target takes the nested values as they are
    del tap["config"]["activate_version"]  # as the README says for a database loader: back to the default, on
    plugins["loaders"].append(
        {
            "name": "target-postgres",
            "namespace": "target_postgres",
            "executable": str(BIN / "target-postgres"),
            "config": target_config(postgres, database, hard_delete=True),
        }
    )
    (project / "meltano.yml").write_text(yaml.safe_dump(meltano_yml, sort_keys=False))
    return project


def meltano(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = run_meltano(project, *args, env=env, timeout=300)
    assert done.returncode == 0, f"meltano {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done


def test_nightly_meltano_runs_and_a_full_refresh_keep_postgres_equal_to_daktela(tmp_path, postgres, database):
    endpoints = [ENDPOINTS_BY_NAME[name] for name in STREAMS]
    with DaktelaSimulator(seed=37, scale="small") as sim, psycopg.connect(postgres.url(database)) as conn:
        conn.autocommit = True
        project = meltano_project(tmp_path / "project", postgres, database)
        env = user_env(sim.url)

        meltano(project, "run", "tap-daktela", "target-postgres", env=env)
        for endpoint in endpoints:
            assert_equal_to_simulator(conn, sim, endpoint, hard_delete=True, gone=set())

        changes = change_everything(sim)
        meltano(project, "run", "tap-daktela", "target-postgres", env=env)  # nightly: from Meltano's state
        for endpoint in endpoints:
            if endpoint.full_table:
                assert_equal_to_simulator(conn, sim, endpoint, hard_delete=True, gone=changes.deleted[endpoint.name])
            else:
                assert_incremental_run(conn, sim, endpoint, changes)

        later = change_everything(sim)
        meltano(project, "run", "--full-refresh", "tap-daktela", "target-postgres", env=env)  # the whole read
        for endpoint in endpoints:
            gone = changes.deleted[endpoint.name] | later.deleted[endpoint.name]
            assert_equal_to_simulator(conn, sim, endpoint, hard_delete=True, gone=gone)
        state = json.loads(meltano(project, "state", "get", "dev:tap-daktela-to-target-postgres", env=env).stdout)
        assert {"tickets", "activities"} <= set(state["singer_state"]["bookmarks"])
