"""Shared fixtures: a local Daktela simulator over real HTTP, and a runner for the real `tap-daktela` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.simulator import DaktelaSimulator

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
USERNAME, PASSWORD = "api_user", "s3cret-Pa55"


@dataclass
class TapRun:
    """What one `tap-daktela` process wrote."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict] = field(default_factory=list)

    def records(self, stream: str | None = None) -> list[dict]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and stream in (None, m["stream"])]

    def schema(self, stream: str) -> dict:
        return next(m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)

    @property
    def final_state(self) -> dict:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}

    @property
    def error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_tap(
    tmp_path: Path,
    config: dict,
    *args: str,
    catalog: dict | None = None,
    state: dict | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> TapRun:
    """Run the installed `tap-daktela` console script as users do."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    command = [str(BIN / "tap-daktela"), "--config", str(config_file), *args]
    if catalog is not None:
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        command += ["--catalog", str(tmp_path / "catalog.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp_path / "state.json")]
    env = {key: value for key, value in os.environ.items() if not key.startswith("TAP_DAKTELA_")} | (env or {})
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"type"')]
    return TapRun(done.returncode, done.stdout, done.stderr, messages)


def tap_config(sim: DaktelaSimulator, **overrides) -> dict:
    config = {
        "url": sim.url,
        "username": USERNAME,
        "password": PASSWORD,
        "backoff_base_seconds": 0.05,
        "max_retries": 3,
    }
    config.update(overrides)
    return config


def select(catalog: dict, streams: dict[str, list[str] | None]) -> dict:
    """Select `streams` (stream -> fields, None = all fields) in a discovered catalog; deselect the rest."""
    for entry in catalog["streams"]:
        wanted = entry["tap_stream_id"] in streams
        fields = streams.get(entry["tap_stream_id"])
        for item in entry["metadata"]:
            breadcrumb = item["breadcrumb"]
            if not breadcrumb:
                item["metadata"]["selected"] = wanted
            elif wanted:
                item["metadata"]["selected"] = fields is None or breadcrumb[-1] in fields
    return catalog


@pytest.fixture(autouse=True)
def _reset_simulator_knobs(request):
    """After each test, every simulator it used (shared module/session servers too) gets default knobs and zero
    counters, so no test sees another test's knobs, added custom fields or request counts."""
    yield
    for value in (getattr(request.node, "funcargs", None) or {}).values():
        if isinstance(value, DaktelaSimulator):
            value.reset_knobs()
            value.reset_counters()


@pytest.fixture(scope="session")
def sim():
    """One small simulator for read-only tests (tests that mutate data start their own)."""
    with DaktelaSimulator(seed=7, scale="small") as simulator:
        yield simulator


@pytest.fixture
def fresh_sim():
    with DaktelaSimulator(seed=11, scale="small") as simulator:
        yield simulator


@pytest.fixture(scope="session")
def discovered_catalog(tmp_path_factory) -> dict:
    run = run_tap(tmp_path_factory.mktemp("discover"), {"url": "https://example.daktela.com"}, "--discover")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def walk_keys(value):
    """Every key of every object inside a JSON value, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_keys(item)
