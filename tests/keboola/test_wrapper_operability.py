"""What a person running the Keboola component (`python -m keboola_wrapper`, real tap and target-csv) sees: one
line for data-folder mistakes, one warning per mistyped setting, the port-without-TLS message, a summary per
endpoint at the end (rows, and the tap's requests, retries, seconds, bookmark) and progress on a long endpoint."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tap_daktela.run_summary import PROGRESS_SECONDS_VARIABLE
from tests.conftest import PASSWORD, REPO, USERNAME


def parameters(url: str, **sections) -> dict:
    params = {
        "connection": {"url": url, "username": USERNAME, "#password": PASSWORD},
        "data_selection": {
            "date_from": "2000-01-01",
            "date_to": "now",
            "endpoints": [{"endpoint": "users", "fields": []}, {"endpoint": "tickets", "fields": []}],
        },
        "destination": {"incremental": False},
        "advanced": {"batch_size": 20},
    }
    for name, values in sections.items():
        params[name] = {**params.get(name, {}), **values} if isinstance(values, dict) else values
    return params


def data_folder(root: Path, params: dict | None) -> Path:
    """A Keboola data folder with `params` as config.json's parameters (None: no config.json)."""
    (root / "in").mkdir(parents=True)
    (root / "out" / "tables").mkdir(parents=True)
    if params is not None:
        (root / "config.json").write_text(json.dumps({"parameters": params}))
    return root


def component(data_dir: Path | None, cwd: Path = REPO, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("KBC_DATADIR", "KBC_RUNID")}
    if data_dir is not None:
        env["KBC_DATADIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "keboola_wrapper"], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def output_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def test_missing_config_json_is_one_line(tmp_path):
    folder = data_folder(tmp_path / "data", None)
    proc = component(folder)
    assert proc.returncode == 1
    assert output_lines(proc) == [f"config.json is missing in the data folder {folder}."]


def test_kbc_datadir_naming_a_missing_folder_is_one_line(tmp_path):
    proc = component(tmp_path / "nowhere")
    assert proc.returncode == 1
    assert output_lines(proc) == [
        f"KBC_DATADIR points at {tmp_path / 'nowhere'}, which is not a folder: set it to the data folder."
    ]


def test_kbc_datadir_unset_without_a_data_folder_is_one_line(tmp_path):
    cwd = tmp_path / "project" / "src"  # the library's default is ../data, which does not exist here
    cwd.mkdir(parents=True)
    proc = component(None, cwd=cwd)
    assert proc.returncode == 1
    lines = output_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("KBC_DATADIR is not set and the default data folder"), lines
    assert str(tmp_path / "project" / "data") in lines[0]


def test_kbc_datadir_unset_uses_the_librarys_default_folder(tmp_path):
    """`../data` is the library's local-development default: a config.json there is read (and checked)."""
    folder = data_folder(tmp_path / "project" / "data", None)
    (folder / "config.json").write_text("{")
    cwd = tmp_path / "project" / "src"
    cwd.mkdir()
    proc = component(None, cwd=cwd)
    assert proc.returncode == 1
    assert output_lines(proc) == [
        "config.json is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2."
    ]


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"advanced": {"batchsize": 10}}, "unknown setting 'advanced.batchsize'; did you mean 'advanced.batch_size'?"),
        (
            {"data_selection": {"date_form": "2000-01-01"}},
            "unknown setting 'data_selection.date_form'; did you mean 'data_selection.date_from'?",
        ),
    ],
)
def test_unknown_setting_warns_once_and_the_run_goes_on(tmp_path, sim, sections, expected):
    folder = data_folder(tmp_path / "data", parameters(sim.url, **sections))
    proc = component(folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in output_lines(proc) if "unknown setting" in line]
    assert len(warnings) == 1 and warnings[0].endswith(expected), warnings
    assert (folder / "out" / "tables" / "users.csv").is_file()


@pytest.mark.parametrize("verify_ssl", [True, False])
def test_https_on_a_plain_http_port_is_one_line(tmp_path, sim, verify_ssl):
    https = sim.url.replace("http://", "https://")
    folder = data_folder(tmp_path / "data", parameters(https, connection={"verify_ssl": verify_ssl}))
    proc = component(folder)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{https} does not speak TLS on that port"), last
    assert "use http://" in last and "certificate" not in last
    assert "Traceback" not in proc.stderr and not (folder / "out" / "state.json").exists()


def component_with(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if key not in ("KBC_DATADIR", "KBC_RUNID")}
    return subprocess.run(
        [sys.executable, "-m", "keboola_wrapper"],
        cwd=REPO,
        env=base | env | {"KBC_DATADIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def table_rows(folder: Path, endpoint: str) -> int:
    with (folder / "out" / "tables" / f"{endpoint}.csv").open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def test_run_ends_with_a_summary_per_endpoint(tmp_path, sim):
    folder = data_folder(tmp_path / "data", parameters(sim.url))
    proc = component(folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    state = json.loads((folder / "out" / "state.json").read_text())
    rows = {endpoint: table_rows(folder, endpoint) for endpoint in ("users", "tickets")}
    assert rows == {endpoint: len(sim.records(endpoint)) for endpoint in rows}
    users = re.search(r"Endpoint 'users': (\d+) rows, (\d+) requests?, 0 retries, [\d.]+ s$", log, re.MULTILINE)
    assert users and int(users.group(1)) == rows["users"] and int(users.group(2)) >= 1, log[-3000:]
    bookmark = state["bookmarks"]["tickets"]["replication_key_value"]
    tickets = re.search(
        rf"Endpoint 'tickets': (\d+) rows, \d+ requests?, 0 retries, [\d.]+ s, bookmark edited {re.escape(bookmark)}$",
        log,
        re.MULTILINE,
    )
    assert tickets and int(tickets.group(1)) == rows["tickets"], log[-3000:]
    assert f"Extracted 2 endpoints, {sum(rows.values())} rows: users, tickets" in log
    assert "METRIC" not in log and "tap-daktela: summary:" not in log


def test_empty_endpoint_says_the_window_it_read(tmp_path, sim):
    window = {"date_from": "2000-01-01", "date_to": "2000-02-01"}
    folder = data_folder(tmp_path / "data", parameters(sim.url, data_selection=window))
    proc = component(folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in output_lines(proc) if "Endpoint 'tickets': " in line)
    assert (
        "Endpoint 'tickets': 0 rows, " in line
        and "no bookmark yet; empty: no record with edited from 2000-01-01" in line
    )
    assert table_rows(folder, "tickets") == 0


def test_long_endpoint_logs_progress_outside_debug_mode(tmp_path, fresh_sim):
    fresh_sim.knobs.latency_ms = 40
    params = parameters(
        fresh_sim.url,
        data_selection={"endpoints": [{"endpoint": "tickets"}]},
        advanced={"batch_size": 5, "max_concurrent_requests": 1},
    )
    folder = data_folder(tmp_path / "data", params)
    proc = component_with(folder, {PROGRESS_SECONDS_VARIABLE: "0.1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    progress = re.findall(r"\[tickets/tap\] tickets: (\d+) records? so far in \d+ s", proc.stdout + proc.stderr)
    assert progress and 0 < int(progress[0]) < len(fresh_sim.records("tickets")), (proc.stdout + proc.stderr)[-3000:]
