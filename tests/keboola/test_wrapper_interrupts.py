"""SIGTERM/SIGINT to the real component (`python -m keboola_wrapper`): every child stops within 5 s, the run fails
loudly naming the complete and incomplete endpoints, and nothing incomplete looks complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.simulator import DaktelaSimulator

REPO = Path(__file__).resolve().parents[2]
ENDPOINTS = ["users", "statuses", "tickets", "activities", "contacts", "activitiesCall", "crmRecords"]


@pytest.fixture
def slow_sim():
    with DaktelaSimulator(seed=3, scale="small") as simulator:
        simulator.knobs.latency_ms = 60
        yield simulator


def component_config(url: str, incremental: bool = True) -> dict:
    return {
        "parameters": {
            "connection": {"url": url, "username": "api_user", "#password": "s3cret-Pa55"},
            "data_selection": {
                "date_from": "2000-01-01",
                "date_to": "now",
                "endpoints": [{"endpoint": name, "fields": []} for name in ENDPOINTS],
            },
            "destination": {"incremental": incremental},
            "advanced": {"batch_size": 5, "max_concurrent_endpoints": 2, "max_concurrent_requests": 2},
        }
    }


def start_component(data_dir: Path, config: dict, state: dict | None = None) -> subprocess.Popen:
    (data_dir / "in").mkdir(parents=True)
    (data_dir / "out" / "tables").mkdir(parents=True)
    (data_dir / "config.json").write_text(json.dumps(config))
    if state is not None:
        (data_dir / "in" / "state.json").write_text(json.dumps(state))
    env = {**os.environ, "KBC_DATADIR": str(data_dir)}
    env.pop("KBC_RUNID", None)
    return subprocess.Popen(
        [sys.executable, "-m", "keboola_wrapper"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def interrupt_after_first_done(process: subprocess.Popen, signum: int) -> tuple[list[str], float]:
    """Read the log until one endpoint is done, send `signum`, read to the end; return lines and seconds taken."""
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if "' done in " in line:
            break
    else:
        raise AssertionError("\n".join(lines))
    started = time.monotonic()
    process.send_signal(signum)
    reader = threading.Thread(target=lambda: lines.extend(x.rstrip("\n") for x in process.stdout))  # type: ignore[union-attr]
    reader.start()
    process.wait(timeout=30)
    seconds = time.monotonic() - started
    reader.join()
    process.stdout.close()
    return lines, seconds


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_fails_loudly_and_presents_nothing_incomplete(slow_sim, tmp_path, signum, code):
    process = start_component(tmp_path, component_config(slow_sim.url))
    lines, seconds = interrupt_after_first_done(process, signum)
    assert process.returncode == code, "\n".join(lines)
    assert seconds < 5, f"took {seconds:.1f} s"

    done = {line.split("'")[1] for line in lines if "' done in " in line}
    assert done, "\n".join(lines)
    summary = [line for line in lines if f"Interrupted by {signal.Signals(signum).name}" in line]
    assert len(summary) == 1, "\n".join(lines)
    complete_part, incomplete_part = summary[0].split("complete: ", 1)[1].split("; not complete")
    complete = set(complete_part.split(", "))
    incomplete = set(incomplete_part.split(": ", 1)[1].rstrip(".").split(", "))
    assert complete == done
    assert complete | incomplete == set(ENDPOINTS) and not complete & incomplete

    tables = tmp_path / "out" / "tables"
    for endpoint in incomplete:  # no half-written table presented as complete
        assert not (tables / f"{endpoint}.csv").exists(), endpoint
        assert not (tables / f"{endpoint}.csv.manifest").exists(), endpoint
    for endpoint in complete:
        assert (tables / f"{endpoint}.csv.manifest").exists(), endpoint
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    bookmarks = state.get("bookmarks") or {}
    assert not set(bookmarks) & incomplete, bookmarks

    # every child is gone: nothing asks the instance for anything any more
    slow_sim.reset_counters()
    time.sleep(1.0)
    assert slow_sim.counters.requests == 0


def test_an_interrupted_run_keeps_the_earlier_bookmarks_of_incomplete_endpoints(slow_sim, tmp_path):
    slow_sim.knobs.latency_ms = 0
    first = start_component(tmp_path / "first", component_config(slow_sim.url))
    first.communicate(timeout=120)
    assert first.returncode == 0
    earlier = json.loads((tmp_path / "first" / "out" / "state.json").read_text())

    slow_sim.knobs.latency_ms = 60
    second = start_component(tmp_path / "second", component_config(slow_sim.url), state=earlier)
    lines, _ = interrupt_after_first_done(second, signal.SIGTERM)
    assert second.returncode == 143, "\n".join(lines)
    state = json.loads((tmp_path / "second" / "out" / "state.json").read_text())
    for endpoint, bookmark in (earlier.get("bookmarks") or {}).items():
        assert endpoint in state["bookmarks"], endpoint  # an incomplete endpoint keeps the last complete run's
        if bookmark and (tmp_path / "second" / "out" / "tables" / f"{endpoint}.csv.manifest").exists():
            continue
        assert state["bookmarks"][endpoint] == bookmark, endpoint
