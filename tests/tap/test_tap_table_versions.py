"""ACTIVATE_VERSION: a whole read ends with it (so targets remove deleted records), an incremental read never does."""

from __future__ import annotations

import pytest

from tap_daktela.endpoints import ENDPOINTS
from tests.conftest import run_tap, tap_config

FULL_TABLE = [e.name for e in ENDPOINTS if e.replication_key is None]
INCREMENTAL = [e.name for e in ENDPOINTS if e.replication_key]


def stream_messages(run, stream: str) -> list[dict]:
    return [m for m in run.messages if m.get("stream") == stream]


def assert_versioned_whole_read(run, stream: str) -> None:
    """Records carry one version, and ACTIVATE_VERSION with that version follows the last of them."""
    messages = stream_messages(run, stream)
    kinds = [m["type"] for m in messages]
    assert kinds.count("ACTIVATE_VERSION") == 1, (stream, kinds)
    activate = kinds.index("ACTIVATE_VERSION")
    records = [m for m in messages if m["type"] == "RECORD"]
    assert all(i < activate for i, m in enumerate(messages) if m["type"] == "RECORD"), stream
    version = messages[activate]["version"]
    assert isinstance(version, int) and version > 0
    assert {m.get("version") for m in records} <= {version}, stream
    if records:
        assert records[0]["version"] == version


@pytest.fixture(scope="module")
def whole_run(sim, tmp_path_factory):
    run = run_tap(tmp_path_factory.mktemp("whole"), tap_config(sim, page_size=7))
    assert run.returncode == 0, run.stderr
    return run


@pytest.mark.parametrize("stream", [e.name for e in ENDPOINTS])
def test_a_whole_read_of_every_stream_ends_with_activate_version(whole_run, stream):
    assert_versioned_whole_read(whole_run, stream)


def test_activate_version_comes_before_the_streams_final_state(whole_run):
    types = [m["type"] for m in whole_run.messages]
    for stream in ("users", "tickets"):
        positions = [i for i, m in enumerate(whole_run.messages) if m.get("stream") == stream]
        activate = next(i for i in positions if whole_run.messages[i]["type"] == "ACTIVATE_VERSION")
        assert "STATE" in types[activate:], "a STATE follows the stream's ACTIVATE_VERSION"


def test_versions_grow_from_run_to_run(sim, tmp_path, whole_run):
    again = run_tap(tmp_path, tap_config(sim), catalog=None)
    first = {m["stream"]: m["version"] for m in whole_run.messages if m["type"] == "ACTIVATE_VERSION"}
    second = {m["stream"]: m["version"] for m in again.messages if m["type"] == "ACTIVATE_VERSION"}
    assert all(second[s] > first[s] for s in first)


def test_an_incremental_run_sends_no_activate_version_and_no_versions(sim, tmp_path, whole_run):
    """From a bookmark, an incremental stream reads only changes: it must never retire the other rows."""
    run = run_tap(tmp_path, tap_config(sim), state=whole_run.final_state)
    assert run.returncode == 0, run.stderr
    for stream in INCREMENTAL:
        messages = stream_messages(run, stream)
        assert not [m for m in messages if m["type"] == "ACTIVATE_VERSION"], stream
        assert all(m.get("version") is None for m in messages if m["type"] == "RECORD"), stream
    for stream in FULL_TABLE:  # complete on every run
        assert_versioned_whole_read(run, stream)


@pytest.mark.parametrize("setting", ["start_date", "end_date"])
def test_a_bounded_first_read_is_not_a_whole_read(sim, tmp_path, setting):
    value = "2020-01-01" if setting == "start_date" else "2030-01-01"
    run = run_tap(tmp_path, tap_config(sim, **{setting: value}))
    assert run.returncode == 0, run.stderr
    for stream in INCREMENTAL:
        assert not [m for m in stream_messages(run, stream) if m["type"] == "ACTIVATE_VERSION"], stream
    for stream in FULL_TABLE:
        assert_versioned_whole_read(run, stream)


def test_a_state_without_the_stream_reads_it_whole(sim, tmp_path, whole_run):
    state = {"bookmarks": {k: v for k, v in whole_run.final_state["bookmarks"].items() if k != "tickets"}}
    run = run_tap(tmp_path, tap_config(sim), state=state)
    assert run.returncode == 0, run.stderr
    assert_versioned_whole_read(run, "tickets")
    assert not [m for m in stream_messages(run, "contacts") if m["type"] == "ACTIVATE_VERSION"]


def test_a_missing_channel_retires_nothing(fresh_sim, tmp_path):
    """A 404 (channel not set up) reads nothing, so it must not tell the target that nothing exists."""
    fresh_sim.knobs.missing_endpoints = {"activitiesSms"}
    run = run_tap(tmp_path, tap_config(fresh_sim))
    assert run.returncode == 0, run.stderr
    assert not [m for m in stream_messages(run, "activitiesSms") if m["type"] in ("ACTIVATE_VERSION", "RECORD")]
    assert_versioned_whole_read(run, "activitiesWap")


def test_activate_version_false_sends_no_version_messages(sim, tmp_path):
    run = run_tap(tmp_path, tap_config(sim, activate_version=False))
    assert run.returncode == 0, run.stderr
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
    assert all(m.get("version") is None for m in run.messages if m["type"] == "RECORD")
