"""The wrapper's process launcher: forked processes behave like the real commands, and the CSV is target-csv's.

Real processes only: the multiprocessing forkserver forks `tap-daktela` and `target-csv` with the streams,
environment and working directory of each request; the results are compared with the installed console scripts
run as users run them, and with the same programs started fresh (`ExecStarter`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from keboola_wrapper.launcher import ExecStarter, ForkStarter, LaunchError
from keboola_wrapper.runner import target_settings
from tests.conftest import BIN, PASSWORD, REPO, select, tap_config


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


def _stopped_target(starter, tmp_path: Path, stop: str) -> tuple[int, object]:
    """Start target-csv on a stdin that never ends, stop it with `stop` ("kill"/"terminate") once it is reading,
    return its exit code."""
    read_end, write_end = os.pipe()
    (tmp_path / "target-config.json").write_text(json.dumps(target_settings(tmp_path)))
    err = tmp_path / f"target-{stop}.err"
    try:
        with open(os.devnull, "wb") as nothing, err.open("wb") as ferr:
            process = starter.start(
                "target-csv",
                ["--config", "target-config.json"],
                stdin=read_end,
                stdout=nothing.fileno(),
                stderr=ferr.fileno(),
                env={},
                cwd=tmp_path,
            )
        assert process.pid != os.getpid() and Path(f"/proc/{process.pid}").exists()
        deadline = time.monotonic() + 30
        while "Skipping parse of env var settings" not in err.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.5)  # built, its signal handlers installed, waiting for input
        getattr(process, stop)()
        return process.wait(timeout=10), process
    finally:
        os.close(read_end)
        os.close(write_end)


def test_stopped_process_reports_the_signal_or_its_own_exit(fork_starter, tmp_path):
    """SIGKILL shows as -9; on SIGTERM target-csv (the SDK's handler) ends on its own, as its command does."""
    code, process = _stopped_target(fork_starter, tmp_path, "kill")
    assert code == -signal.SIGKILL
    assert process.usage is None  # it never got to report
    exec_starter = ExecStarter()
    assert (
        _stopped_target(fork_starter, tmp_path, "terminate")[0]
        == _stopped_target(exec_starter, tmp_path, "terminate")[0]
    )


@pytest.mark.parametrize("starter_class", [ForkStarter, ExecStarter])
def test_terminated_tap_exits_as_its_command_does(sim, tmp_path, discovered_catalog, starter_class):
    """SIGTERM mid-run: the tap's own exit code (143) and its one line, the same from both starters."""
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(select(copy.deepcopy(discovered_catalog), {"tickets": None})))
    (tmp_path / "tap.json").write_text(json.dumps(tap_config(sim)))
    sim.knobs.latency_ms = 400  # a run that is still waiting on the network when the signal comes
    starter = starter_class()
    try:
        err = tmp_path / "err"
        with open(os.devnull, "rb") as nothing, open(os.devnull, "wb") as out, err.open("wb") as ferr:
            process = starter.start(
                "tap-daktela",
                ["--config", "tap.json", "--catalog", "catalog.json"],
                stdin=nothing.fileno(),
                stdout=out.fileno(),
                stderr=ferr.fileno(),
                env=dict(os.environ),
                cwd=tmp_path,
            )
        deadline = time.monotonic() + 30
        while sim.counters.requests == 0 and time.monotonic() < deadline:  # it has started talking
            time.sleep(0.05)
        process.terminate()
        assert process.wait(timeout=10) == 128 + signal.SIGTERM
        assert err.read_text().strip().splitlines()[-1] == "tap-daktela: interrupted"
    finally:
        starter.close()


def _forkservers(expected: int) -> set[int]:
    """Pids of this process's children that are a multiprocessing forkserver, once there are `expected` of them
    (a child just forked shows its parent's command line until it has exec'd)."""
    deadline = time.monotonic() + 10
    while True:
        found = set()
        for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
            for pid in children.read_text().split():
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"multiprocessing.forkserver" in command:
                    found.add(int(pid))
        if len(found) == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    """Running (neither a zombie nor reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_close_reaps_the_forkserver_and_a_new_starter_starts_another(tmp_path):
    starter = ForkStarter()
    (server,) = _forkservers(1)
    starter.close()
    assert not Path(f"/proc/{server}").exists()  # reaped, not a zombie
    assert _forkservers(0) == set()

    # a forkserver that died is replaced by the next start
    starter = ForkStarter()
    (server,) = _forkservers(1)
    os.kill(server, signal.SIGKILL)
    with open(os.devnull, "rb") as nothing:  # while it dies: a clear error
        while _alive(server):
            with contextlib.suppress(LaunchError):
                started = starter.start(
                    "tap-daktela", ["--about"], stdin=nothing.fileno(), stdout=2, stderr=2, env={}, cwd=tmp_path
                )
                started.wait(timeout=60)  # a start that got through before the server died: reap it
    with open(os.devnull, "rb") as nothing, (tmp_path / "about").open("wb") as out:
        process = starter.start(
            "tap-daktela", ["--about"], stdin=nothing.fileno(), stdout=out.fileno(), stderr=2, env={}, cwd=tmp_path
        )
    assert process.wait(timeout=60) == 0
    assert "tap-daktela" in (tmp_path / "about").read_text()
    starter.close()


def test_unknown_program_is_a_clear_error(fork_starter, tmp_path):
    with open(os.devnull, "rb") as nothing, pytest.raises(LaunchError, match="unknown program"):
        fork_starter.start("rm", ["-rf"], stdin=nothing.fileno(), stdout=2, stderr=2, env={}, cwd=tmp_path)


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
    package = REPO / "keboola_wrapper"
    users = sorted(
        path.name
        for path in package.glob("*.py")
        if path.name != "launcher.py" and any(word in path.read_text() for word in ("launcher", "Starter", "Process("))
    )
    assert users == ["runner.py"]
    for name in ("component.py", "translation.py", "configuration.py", "tables.py"):
        assert "subprocess" not in (package / name).read_text(), name


def test_threads_starting_and_waiting_at_once_get_every_exit_code(fork_starter, tmp_path):
    """The runner's threads start and wait at the same time: every child's own exit code, never multiprocessing's
    255 for a status another thread's poll had already read (the race is narrow: a full component run of every
    endpoint hit it about every other run before the launcher's lock; this test exercises the same calls)."""

    def run_some(thread: int) -> list[int]:
        codes = []
        for i in range(10):
            with open(os.devnull, "rb") as nothing, open(os.devnull, "wb") as out:
                args = ["--about"] if i % 2 else ["--config", "missing.json"]  # exit 0, exit 1
                process = fork_starter.start(
                    "tap-daktela",
                    args,
                    stdin=nothing.fileno(),
                    stdout=out.fileno(),
                    stderr=out.fileno(),
                    env={},
                    cwd=tmp_path,
                )
            codes.append(process.wait(timeout=60))
        return codes

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run_some, range(4)))
    assert results == [[1, 0] * 5] * 4
