"""End to end through the real Meltano CLI: `meltano run tap-daktela target-csv` against the simulator, twice.

The project's `meltano.yml` is used as committed, in a temporary copy of the project (so `.meltano/` and
`output/` never land in the repo). `meltano install` creates the plugin venvs there the way a user's fresh clone
does (Meltano's default uv backend; no Meltano Hub: both plugins are fully defined in meltano.yml).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tap_daktela.flattening import flatten_schema
from tests.conftest import PASSWORD, USERNAME
from tests.meltano_project import BIN, copy_project, run_meltano, user_env
from tests.simulator import DaktelaSimulator

STATE_ID = "dev:tap-daktela-to-target-csv"
SELECTED = ("tickets", "users", "activitiesCall")

csv.field_size_limit(sys.maxsize)


def meltano(project: Path, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    done = run_meltano(project, *args, env=env, timeout=timeout)
    assert done.returncode == 0, f"meltano {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project with its plugins installed by `meltano install`."""
    return copy_project(tmp_path_factory.mktemp("meltano-project"))


@pytest.fixture(scope="module")
def sim():
    with DaktelaSimulator(seed=5, scale="small") as simulator:
        yield simulator


@pytest.fixture(scope="module")
def env(sim) -> dict[str, str]:
    """The user's shell, with Meltano's documented `<PLUGIN>__SELECT` override of `select` (meltano.yml selects
    everything)."""
    return user_env(sim.url, TAP_DAKTELA__SELECT=json.dumps([f"{stream}.*" for stream in SELECTED]))


def catalog_schema(project: Path, stream: str, sim: DaktelaSimulator) -> dict:
    """The stream's schema from the tap's own live discovery, as `meltano run` gets it (the CSV columns must
    follow it, not the data)."""
    config = project / "discover-config.json"
    config.write_text(json.dumps({"url": sim.url, "username": USERNAME, "password": PASSWORD}))
    command = [str(BIN / "tap-daktela"), "--config", str(config), "--discover"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=project)
    assert done.returncode == 0, done.stderr
    catalog = json.loads(done.stdout)
    return next(entry["schema"] for entry in catalog["streams"] if entry["tap_stream_id"] == stream)


def run_files(output: Path) -> dict[str, Path]:
    """Each stream's newest file: every run writes its own `<stream>-<UTC timestamp>.csv`."""
    latest: dict[str, Path] = {}
    for path in sorted(output.glob("*-*.csv")):  # the timestamp sorts as text
        latest[path.stem.rsplit("-", 3)[0]] = path
    return latest


def assert_clean_cells(rows: list[dict[str, str]], table: str) -> None:
    """Flat rows: no Python repr anywhere; nested values that stayed in one cell are valid JSON."""
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("{'", "['")), f"{table}.{column}: {cell[:80]!r}"
            if cell.startswith(("{", "[")):
                json.loads(cell)


def test_meltano_run_twice_resumes_from_state(project: Path, env: dict[str, str], sim: DaktelaSimulator) -> None:
    meltano(project, "install", env=env)
    assert (project / ".meltano" / "extractors" / "tap-daktela" / "venv").is_dir()
    assert (project / ".meltano" / "loaders" / "target-csv" / "venv").is_dir()

    # --- first run: every selected stream in full, one CSV each, nothing else
    meltano(project, "run", "tap-daktela", "target-csv", env=env)
    output = project / "output"
    first = run_files(output)
    assert sorted(first) == sorted(SELECTED)
    assert len(list(output.glob("*.csv"))) == len(SELECTED)
    for stream in SELECTED:
        header, rows = read_csv(first[stream])
        assert len(rows) == len(sim.records(stream)), stream
        assert header == list(flatten_schema(catalog_schema(project, stream, sim))["properties"]), stream
        assert_clean_cells(rows, stream)
    header, rows = read_csv(first["tickets"])
    first_tickets = rows
    assert {"name", "title", "edited", "user_name", "category_title"} <= set(header)
    assert "user" not in header and "category" not in header  # nested objects are `parent_child` columns
    # the project's nested_objects is keys: references are their key and title, not the embedded copies
    assert {"user_name", "user_title", "created_by_name", "category_name"} <= set(header)
    assert not {"user_email", "user_role", "category_sla", "created_by_profile"} & set(header)
    users = {record["name"] for record in sim.records("users")}
    assert {row["user_name"] for row in rows if row["user_name"]} <= users  # keys join to the users table
    assert {row["name"] for row in rows} == {str(record["name"]) for record in sim.records("tickets")}
    assert all(row["edited"][-6] in "+-" for row in rows if row["edited"])  # ISO 8601 with the instance offset

    state = json.loads(meltano(project, "state", "get", STATE_ID, env=env).stdout)
    first_bookmark = state["singer_state"]["bookmarks"]["tickets"]["replication_key_value"]
    assert state["singer_state"]["bookmarks"]["activitiesCall"]["replication_key"] == "call_time"

    # --- second run: only what changed since the bookmark
    oldest = min(sim.records("tickets"), key=lambda record: record["edited"])["name"]
    updated = sim.update("tickets", oldest)
    inserted = sim.insert("tickets", 1)[0]
    meltano(project, "run", "tap-daktela", "target-csv", env=env)

    second = run_files(output)
    assert all(second[stream] != first[stream] for stream in SELECTED)  # a new file per stream and run
    _, kept = read_csv(first["tickets"])
    assert kept == first_tickets  # the incremental run destroyed nothing the first one wrote
    _, rows = read_csv(second["tickets"])
    names = {row["name"] for row in rows}
    assert {str(updated["name"]), str(inserted["name"])} <= names
    # At most the record(s) sitting exactly on the old bookmark are read again (an inclusive bookmark).
    assert all(moment(row["edited"]) >= moment(first_bookmark) for row in rows), rows
    assert len(rows) <= 4, names
    assert_clean_cells(rows, "tickets")
    _, users = read_csv(second["users"])
    assert len(users) == len(sim.records("users"))  # full-table stream: read in full every run

    state = json.loads(meltano(project, "state", "get", STATE_ID, env=env).stdout)
    assert moment(state["singer_state"]["bookmarks"]["tickets"]["replication_key_value"]) > moment(first_bookmark)
    listed = meltano(project, "state", "list", env=env).stdout.split()
    assert STATE_ID in listed


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_meltano_run_fails(project: Path, env: dict[str, str], sim: DaktelaSimulator, signum) -> None:
    """Ctrl-C (SIGINT) or a scheduler's SIGTERM to the process group: the tap exits 130/143 and Meltano ends the
    block, so the run fails instead of reporting success."""
    if not (project / ".meltano" / "extractors" / "tap-daktela" / "venv").is_dir():
        meltano(project, "install", env=env)
    sim.knobs.latency_ms = 150
    process = subprocess.Popen(
        [str(BIN / "meltano"), "run", "--full-refresh", "tap-daktela", "target-csv"],
        cwd=project,
        env=env | {"TAP_DAKTELA_PAGE_SIZE": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while sim.counters.requests < 8 and time.monotonic() < deadline:  # the tap is reading pages
        time.sleep(0.05)
    os.killpg(process.pid, signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0, output[-3000:]
