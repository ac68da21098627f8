"""What a person running the Keboola component (`python -m keboola_wrapper`, real tap and target-csv) sees: one
line for data-folder mistakes, one warning per mistyped setting, the port-without-TLS message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
