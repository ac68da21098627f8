"""Issue 18's streams through the real Meltano CLI (`meltano run tap-daktela target-csv`, the project's meltano.yml
in a temporary copy) against the simulator, twice: the lookup tables that categories and users point to join
them, articles resume from their bookmark, and target-csv (append-only: a file per run) keeps one realtime
snapshot per run, each with its own `snapshot_time`."""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.meltano_project import copy_project, run_meltano, user_env
from tests.simulator import DaktelaSimulator

SELECTED = ("ticketsCategories", "ticketsSla", "timegroups", "users", "roles", "profiles", "articles")
SNAPSHOT = "realtimeSessions"

csv.field_size_limit(sys.maxsize)


def meltano(project: Path, *args: str, env: dict[str, str]) -> None:
    done = run_meltano(project, *args, env=env, timeout=600)
    assert done.returncode == 0, f"meltano {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def files_of(output: Path, stream: str) -> list[Path]:
    """The stream's files, oldest first: every run writes its own `<stream>-<UTC timestamp>.csv`."""
    return sorted(path for path in output.glob(f"{stream}-*.csv") if path.stem.rsplit("-", 3)[0] == stream)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two `meltano run`s with an edited and an inserted article in between."""
    project = copy_project(tmp_path_factory.mktemp("meltano-models"))
    with DaktelaSimulator(seed=23, scale="small") as sim:
        env = user_env(sim.url, TAP_DAKTELA__SELECT=json.dumps([f"{s}.*" for s in (*SELECTED, SNAPSHOT)]))
        meltano(project, "install", env=env)
        meltano(project, "run", "tap-daktela", "target-csv", env=env)
        counts = {stream: len(sim.records(stream)) for stream in SELECTED}  # what the first run had to read
        edited = min(sim.records("articles"), key=lambda record: record["edited"])["name"]
        sim.update("articles", edited)
        inserted = sim.insert("articles", 1)[0]["name"]
        time.sleep(1.1)  # snapshot times are to the second
        meltano(project, "run", "tap-daktela", "target-csv", env=env)
        yield {"output": project / "output", "sim": sim, "changed": {edited, inserted}, "counts": counts}


def test_every_selected_stream_is_complete_in_the_first_run(runs):
    for stream in SELECTED:
        rows = read_csv(files_of(runs["output"], stream)[0])
        keys = [row["name"] for row in rows]
        assert len(keys) == len(set(keys)) == runs["counts"][stream] > 0, stream


def test_lookup_keys_join_their_tables(runs):
    output = runs["output"]
    first = {stream: read_csv(files_of(output, stream)[0]) for stream in SELECTED}
    names = {stream: {row["name"] for row in rows} for stream, rows in first.items()}
    for table, column, target in [
        ("ticketsCategories", "sla_name", "ticketsSla"),
        ("ticketsCategories", "timecondition_name", "timegroups"),
        ("users", "role_name", "roles"),
        ("users", "profile_name", "profiles"),
    ]:
        values = {row[column] for row in first[table] if row[column]}
        assert values and values <= names[target], (table, column)
        prefix = column[: -len("name")]  # the key and title of the referenced record, never a copy of it
        assert {c for c in first[table][0] if c.startswith(prefix)} <= {f"{prefix}name", f"{prefix}title"}


def test_the_second_run_reads_only_changed_articles(runs):
    older, newer = files_of(runs["output"], "articles")
    assert runs["changed"] <= {row["name"] for row in read_csv(newer)}
    assert len(read_csv(newer)) < len(read_csv(older))


def test_each_run_appends_one_snapshot_of_the_agents(runs):
    sim = runs["sim"]
    snapshots = [read_csv(path) for path in files_of(runs["output"], SNAPSHOT)]
    assert len(snapshots) == 2
    taken = []
    for rows in snapshots:
        times = {row["snapshot_time"] for row in rows}
        assert len(times) == 1 and len(rows) == len(sim.records(SNAPSHOT))
        agents = [row["id_agent"] for row in rows]
        assert len(agents) == len(set(agents)) and set(agents) <= {user["name"] for user in sim.records("users")}
        taken.append(datetime.fromisoformat(times.pop()))
    assert taken[1] > taken[0] and taken[0].utcoffset() is not None
