"""SIGINT/SIGTERM to the real tap CLI: it stops within 2 s, fails loudly (130/143, one line), and resuming from
the last STATE it wrote yields every record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tap_daktela.endpoints import ENDPOINTS
from tests.conftest import BIN, run_tap, tap_config
from tests.simulator import DaktelaSimulator


@pytest.fixture
def slow_sim():
    with DaktelaSimulator(seed=5, scale="small") as simulator:
        simulator.knobs.latency_ms = 40
        yield simulator


def interrupt_tap(tmp_path, config: dict, signum: int, after_records: int = 40):
    """Start the tap, send `signum` once it has written `after_records` records; return (rc, seconds, out, err)."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_DAKTELA_")}
    process = subprocess.Popen(
        [str(BIN / "tap-daktela"), "--config", str(tmp_path / "config.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    # the tap flushes stdout with each STATE; wait for the STATE lines that say records are flowing
    seen, lines = 0, []
    assert process.stdout is not None
    while seen < after_records:
        line = process.stdout.readline()
        assert line, process.stderr.read().decode() if process.stderr else "tap ended early"
        lines.append(line)
        seen += line.startswith(b'{"type":"RECORD"')
    started = time.monotonic()
    process.send_signal(signum)
    process.wait(timeout=30)
    seconds = time.monotonic() - started
    with process.stdout, process.stderr:  # type: ignore[union-attr]
        text = b"".join(lines).decode() + process.stdout.read().decode()  # the rest, after what was read ahead
        err = process.stderr.read().decode()  # type: ignore[union-attr]
    return process.returncode, seconds, text, err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_tap_loudly_and_resuming_loses_nothing(slow_sim, tmp_path, signum, code):
    config = tap_config(slow_sim, page_size=5, max_concurrent_requests=2)
    rc, seconds, out, err = interrupt_tap(tmp_path, config, signum)
    assert rc == code, err
    assert seconds < 2, f"took {seconds:.2f} s to stop"
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == "tap-daktela: interrupted"
    assert [line for line in lines if "tap-daktela: interrupted" in line] == [lines[-1]]
    assert "Gracefully shutting down" not in err

    messages = [json.loads(line) for line in out.splitlines() if line.startswith('{"type"')]  # every line is whole
    assert messages[-1]["type"] == "STATE", "the last line is the state to resume from"
    assert not [m for m in messages if m["type"] == "ACTIVATE_VERSION" and m["stream"] == messages[-2].get("stream")]
    first = {}
    for m in messages:
        if m["type"] == "RECORD":
            first.setdefault(m["stream"], set()).add(m["record"][_pk(m["stream"])])

    slow_sim.knobs.latency_ms = 0
    resumed = run_tap(tmp_path, config, state=messages[-1]["value"])
    assert resumed.returncode == 0, resumed.stderr
    for endpoint in ENDPOINTS:
        got = first.get(endpoint.name, set()) | {r[endpoint.primary_key] for r in resumed.records(endpoint.name)}
        expected = {_key(r[endpoint.primary_key]) for r in slow_sim.records(endpoint.name)}
        assert got == expected, f"{endpoint.name}: {len(expected - got)} records lost"


def _key(value):
    """A key as the tap emits it: a key that Daktela sends as a whole record (a session's agent) is its name."""
    return value["name"] if isinstance(value, dict) else value


def _pk(stream: str) -> str:
    return next(e.primary_key for e in ENDPOINTS if e.name == stream)


def test_a_signal_while_waiting_on_a_slow_request_still_stops_within_2_s(tmp_path):
    with DaktelaSimulator(seed=5, scale="small") as simulator:
        simulator.knobs.latency_ms = 20
        config = tap_config(simulator, page_size=5)
        (tmp_path / "config.json").write_text(json.dumps(config))
        process = subprocess.Popen(
            [str(BIN / "tap-daktela"), "--config", str(tmp_path / "config.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        process.stdout.readline()  # running
        simulator.knobs.slow_requests = 100
        simulator.knobs.slow_seconds = 20
        time.sleep(0.5)  # now inside a 20-second request
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 143
        assert time.monotonic() - started < 2
        assert err.decode().strip().splitlines()[-1] == "tap-daktela: interrupted"
