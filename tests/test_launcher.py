"""The wrapper's process launcher: forked processes behave like the real commands, and the CSV is target-csv's.

Real processes only: the launcher forks `tap-daktela` and `target-csv` with the streams, environment and working
directory of each request; the results are compared with the installed console scripts run as users run them.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from keboola_wrapper.launcher import ExecStarter, ForkStarter, LaunchError
from keboola_wrapper.runner import target_settings
from tests.conftest import BIN, PASSWORD, select, tap_config


def _start_and_collect(starter, program: str, args: list[str], *, env: dict, cwd: Path, stdin: bytes = b""):
    """Start `program`, feed `stdin`, return (exit code, stdout, stderr, process)."""
    paths = {name: cwd / f"{program}.{name}" for name in ("in", "out", "err")}
    paths["in"].write_bytes(stdin)
    with paths["in"].open("rb") as fin, paths["out"].open("wb") as fout, paths["err"].open("wb") as ferr:
        process = starter.start(
            program, args, stdin=fin.fileno(), stdout=fout.fileno(), stderr=ferr.fileno(), env=env, cwd=cwd
        )
    code = process.wait()
    return code, paths["out"].read_text(), paths["err"].read_text(), process


@pytest.fixture
def fork_starter():
    starter = ForkStarter()
    yield starter
    starter.close()


@pytest.mark.parametrize("starter_class", [ForkStarter, ExecStarter])
def test_started_tap_gets_its_env_cwd_and_exit_code(sim, tmp_path, discovered_catalog, starter_class):
    starter = starter_class()
    try:
        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps(select(copy.deepcopy(discovered_catalog), {"statuses": None})))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "TAP_DAKTELA_URL": sim.url,
            "TAP_DAKTELA_USERNAME": "api_user",
            "TAP_DAKTELA_PASSWORD": PASSWORD,
        }
        # a relative catalog path only resolves in the requested working directory
        code, out, err, process = _start_and_collect(
            starter, "tap-daktela", ["--config", "ENV", "--catalog", "catalog.json"], env=env, cwd=tmp_path
        )
        assert code == 0, err
        records = [json.loads(line) for line in out.splitlines() if '"RECORD"' in line]
        assert len(records) == len(sim.records("statuses"))
        assert PASSWORD not in err
        if starter_class is ForkStarter:
            assert process.usage is not None and process.usage.cpu_seconds > 0 and process.usage.max_rss_kb > 0

        # the same request without the environment: the tap's own one-line error and exit code 1
        code, _, err, _ = _start_and_collect(
            starter, "tap-daktela", ["--config", "ENV", "--catalog", "catalog.json"], env={}, cwd=tmp_path
        )
        assert code == 1
        assert err.strip().splitlines()[-1].startswith("tap-daktela: error: ")
    finally:
        starter.close()


def test_killed_process_reports_the_signal(fork_starter, tmp_path):
    read_end, write_end = os.pipe()  # stdin that never ends: target-csv waits for input
    (tmp_path / "target-config.json").write_text(json.dumps(target_settings(tmp_path)))
    try:
        process = fork_starter.start(
            "target-csv", ["--config", "target-config.json"], stdin=read_end, stdout=2, stderr=2, env={}, cwd=tmp_path
        )
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.2)
        process.kill()
        assert process.wait() == -signal.SIGKILL
    finally:
        os.close(read_end)
        os.close(write_end)


def test_start_after_the_launcher_died_is_a_clear_error(tmp_path):
    starter = ForkStarter()
    starter._launcher.kill()
    starter._launcher.wait()
    with open(os.devnull, "rb") as nothing, pytest.raises(LaunchError, match="could not start tap-daktela"):
        starter.start("tap-daktela", ["--about"], stdin=nothing.fileno(), stdout=2, stderr=2, env={}, cwd=tmp_path)
    starter.close()


def test_wrapper_target_writes_the_same_csv_as_stock_target_csv(sim, tmp_path, discovered_catalog, fork_starter):
    """The msgspec reader changes nothing in the files: byte-identical to the installed `target-csv`."""
    streams = {"activities": None, "tickets": None, "crmRecords": None}
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(select(copy.deepcopy(discovered_catalog), streams)))
    config = tmp_path / "tap.json"
    config.write_text(json.dumps(tap_config(sim, flatten_records=True)))
    singer = subprocess.run(
        [str(BIN / "tap-daktela"), "--config", str(config), "--catalog", str(catalog)],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout

    outputs = {}
    for name in ("stock", "launched"):
        out_dir = tmp_path / name
        out_dir.mkdir()
        settings = out_dir / "target-config.json"
        settings.write_text(json.dumps(target_settings(out_dir)))
        if name == "stock":
            done = subprocess.run(
                [str(BIN / "target-csv"), "--config", str(settings)], input=singer, capture_output=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
        else:
            code, _, err, _ = _start_and_collect(
                fork_starter, "target-csv", ["--config", str(settings)], env={}, cwd=out_dir, stdin=singer
            )
            assert code == 0, err
        outputs[name] = {p.name: p.read_bytes() for p in sorted(out_dir.glob("*.csv"))}
    assert sorted(outputs["stock"]) == [f"{s}.csv" for s in sorted(streams)]
    assert outputs["launched"] == outputs["stock"]


def test_only_the_runner_uses_the_launcher():
    """Processes start in one place: the component, translation and the rest never see a Starter or Process."""
    package = Path(__file__).resolve().parent.parent / "keboola_wrapper"
    users = sorted(
        path.name
        for path in package.glob("*.py")
        if path.name != "launcher.py" and any(word in path.read_text() for word in ("launcher", "Starter", "Process("))
    )
    assert users == ["runner.py"]
    for name in ("component.py", "translation.py", "configuration.py", "tables.py"):
        assert "subprocess" not in (package / name).read_text(), name
