"""What a person running the tap sees, through the real `tap-daktela` CLI against the simulator: the run summary
(counts checked against the simulator's own), progress lines on a long stream, METRIC lines only when asked, one
warning for a mistyped setting, usage without arguments, which input file is not JSON, an https:// URL on a
plain HTTP port, and the Python versions `--about` lists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tap_daktela.run_summary import PROGRESS_SECONDS_VARIABLE, SUMMARY_JSON_VARIABLE, parse_summary_line
from tests.conftest import BIN, REPO, run_tap, select, tap_config
from tests.meltano_project import copy_project, run_meltano, user_env

STREAMS = {"tickets": None, "users": None}


def summary_lines(stderr: str) -> dict[str, str]:
    """The run summary's per-stream lines (`tickets: 60 records, ...`) by stream."""
    found = {}
    for line in stderr.splitlines():
        match = re.search(r"\|   (\w+): (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def sync(tmp_path, sim, catalog, streams=STREAMS, env=None, **settings):
    config = tap_config(sim, **settings)
    return run_tap(tmp_path, config, catalog=select(json.loads(json.dumps(catalog)), streams), env=env)


def test_summary_counts_what_the_run_read(tmp_path, sim, discovered_catalog):
    run = sync(tmp_path, sim, discovered_catalog, page_size=20, start_date="2000-01-01")
    assert run.returncode == 0, run.stderr[-2000:]
    lines = summary_lines(run.stderr)
    assert set(lines) == set(STREAMS), run.stderr[-2000:]
    for stream in STREAMS:
        records = len(run.records(stream))
        assert records == len(sim.records(stream)) > 1
        requests = sim.counters.by_endpoint[stream]  # every request the simulator answered, failures too
        assert lines[stream].startswith(f"{records} records, {requests} requests, 0 retries, "), lines[stream]
    bookmark = run.final_state["bookmarks"]["tickets"]["replication_key_value"]
    assert lines["tickets"].endswith(f"bookmark edited {bookmark}"), lines["tickets"]
    assert "bookmark" not in lines["users"]  # a full-table stream has none
    requests = sum(sim.counters.by_endpoint[stream] for stream in STREAMS)
    total = f"Run summary: 2 streams, {len(run.records())} records, {requests} requests"
    assert total in run.stderr


def test_summary_says_one_request_and_retries(tmp_path, fresh_sim, discovered_catalog):
    fresh_sim.knobs.fail_endpoint = {"users": [503]}
    run = sync(tmp_path, fresh_sim, discovered_catalog, {"users": None}, page_size=1000)
    assert run.returncode == 0, run.stderr[-2000:]
    line = summary_lines(run.stderr)["users"]
    requests = fresh_sim.counters.by_endpoint["users"]
    assert line.startswith(f"{len(fresh_sim.records('users'))} records, {requests} requests, 1 retry, "), line
    assert not re.search(r"\b1 (requests|records|retries)\b", run.stderr)


def test_empty_stream_says_the_window_it_read(tmp_path, sim, discovered_catalog):
    run = sync(tmp_path, sim, discovered_catalog, start_date="2000-01-01", end_date="2000-02-01")
    assert run.returncode == 0, run.stderr[-2000:]
    line = summary_lines(run.stderr)["tickets"]
    assert line.startswith("0 records, "), line
    assert "no bookmark yet; empty: no record with edited from 2000-01-01T00:00:00+01:00 to 2000-02-01T00:00:00" in line
    assert summary_lines(run.stderr)["users"].startswith(f"{len(sim.records('users'))} records")


def test_summary_as_one_json_line_when_asked(tmp_path, sim, discovered_catalog):
    plain = sync(tmp_path, sim, discovered_catalog, page_size=20)
    assert not [line for line in plain.stderr.splitlines() if parse_summary_line(line)]
    sim.reset_counters()
    run = sync(tmp_path, sim, discovered_catalog, env={SUMMARY_JSON_VARIABLE: "1"}, page_size=20)
    assert run.returncode == 0, run.stderr[-2000:]
    parsed = [tallies for line in run.stderr.splitlines() if (tallies := parse_summary_line(line))]
    assert len(parsed) == 1
    tallies = parsed[0]
    assert list(tallies) == ["tickets", "users"]
    assert tallies["tickets"].records == len(run.records("tickets"))
    assert tallies["tickets"].requests == sim.counters.by_endpoint["tickets"]
    assert tallies["tickets"].bookmark == run.final_state["bookmarks"]["tickets"]["replication_key_value"]
    assert tallies["users"].bookmark is None and not tallies["users"].failed


def test_progress_lines_on_a_long_stream(tmp_path, fresh_sim, discovered_catalog):
    fresh_sim.knobs.latency_ms = 40
    run = sync(
        tmp_path,
        fresh_sim,
        discovered_catalog,
        {"tickets": None},
        env={PROGRESS_SECONDS_VARIABLE: "0.1"},
        page_size=5,
        max_concurrent_requests=1,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    progress = re.findall(r"tickets: (\d+) records so far in \d+ s \((\d+) records/s\)", run.stderr)
    assert len(progress) >= 2, run.stderr[-3000:]
    counts = [int(count) for count, _ in progress]
    assert counts == sorted(counts) and 0 < counts[0] < len(run.records("tickets"))


def test_no_progress_lines_on_a_short_stream(tmp_path, sim, discovered_catalog):
    run = sync(tmp_path, sim, discovered_catalog, page_size=20)
    assert run.returncode == 0 and "so far" not in run.stderr


def test_metric_lines_only_when_asked(tmp_path, sim, discovered_catalog):
    quiet = sync(tmp_path, sim, discovered_catalog)
    assert quiet.returncode == 0 and "METRIC" not in quiet.stderr
    asked = sync(tmp_path, sim, discovered_catalog, metrics_log_level="INFO")
    assert asked.returncode == 0
    metrics = [json.loads(line.split("METRIC: ", 1)[1]) for line in asked.stderr.splitlines() if "METRIC: " in line]
    counted = {m["tags"]["stream"]: m["value"] for m in metrics if m["metric"] == "record_count"}
    assert counted == {stream: len(asked.records(stream)) for stream in STREAMS}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("pagesize", "unknown setting 'pagesize'; did you mean 'page_size'?"),
        ("stream_map", "unknown setting 'stream_map'; did you mean 'stream_maps'?"),  # the SDK's settings count
        ("zzz", "unknown setting 'zzz'; it is ignored"),
    ],
)
def test_unknown_setting_is_one_warning(tmp_path, sim, discovered_catalog, key, expected):
    run = sync(tmp_path, sim, discovered_catalog, {"users": None}, **{key: 10})
    assert run.returncode == 0, run.stderr[-2000:]
    warnings = [line for line in run.stderr.splitlines() if "unknown setting" in line]
    assert len(warnings) == 1 and warnings[0].endswith(expected), warnings
    assert "WARNING" in warnings[0]


def test_known_settings_give_no_warning(tmp_path, sim, discovered_catalog):
    run = sync(
        tmp_path, sim, discovered_catalog, {"users": None}, stream_maps={}, flattening_enabled=False, page_size=10
    )
    assert run.returncode == 0 and "unknown setting" not in run.stderr


def test_no_arguments_prints_usage(tmp_path):
    done = subprocess.run([str(BIN / "tap-daktela")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: tap-daktela") and "--config" in done.stdout and "--discover" in done.stdout
    assert "Traceback" not in done.stderr and "error" not in done.stderr


@pytest.mark.parametrize("option", ["--config", "--catalog", "--state"])
def test_malformed_json_names_the_file(tmp_path, sim, discovered_catalog, option):
    files = {
        "--config": json.dumps(tap_config(sim)),
        "--catalog": json.dumps(select(json.loads(json.dumps(discovered_catalog)), {"users": None})),
        "--state": "{}",
    }
    files[option] = '{"bookmarks": {'
    command = [str(BIN / "tap-daktela")]
    for name, text in files.items():
        path = tmp_path / f"{name[2:]}.json"
        path.write_text(text)
        command += [name, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    bad = tmp_path / f"{option[2:]}.json"
    expected = f"{option} file {bad} is not valid JSON: Expecting property name enclosed in double quotes at line 1"
    assert last == f"tap-daktela: error: {expected}, column 16", last


@pytest.mark.parametrize("verify_ssl", [True, False])
def test_https_on_a_plain_http_port_says_so(tmp_path, sim, discovered_catalog, verify_ssl):
    config = tap_config(sim, url=sim.url.replace("http://", "https://"), verify_ssl=verify_ssl)
    run = run_tap(tmp_path, config, catalog=select(json.loads(json.dumps(discovered_catalog)), {"users": None}))
    assert run.returncode == 1
    host = sim.url.replace("http://", "https://")
    assert run.error_line.startswith(f"tap-daktela: error: {host} does not speak TLS on that port"), run.error_line
    assert "use http://" in run.error_line and "certificate" not in run.error_line
    assert "Traceback" not in run.stderr


def test_about_lists_the_supported_pythons(tmp_path):
    done = subprocess.run(
        [str(BIN / "tap-daktela"), "--about", "--format", "json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    about = json.loads(done.stdout)
    assert about["supported_python_versions"] == ["3.11", "3.12", "3.13"]
    assert "metrics_log_level" in about["settings"]["properties"]


def test_package_builds_without_setuptools_warnings(tmp_path):
    """The SPDX `license` string (no deprecated license table): building the wheel warns about nothing."""
    source = tmp_path / "source"  # a copy: building in place would leave build/ and *.egg-info in the clone
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for package in ("tap_daktela", "keboola_wrapper"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [str(BIN / "pip"), "wheel", "--no-deps", "--no-cache-dir", "-w", str(tmp_path / "wheel"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "SetuptoolsDeprecationWarning" not in output and "license" not in output.lower(), output[-2000:]


def test_meltano_run_log_is_the_run_not_the_chatter(tmp_path, sim):
    """`meltano run` of the project: no METRIC lines, none of target-csv's batch lines, no line per deselected
    stream; the tap's run summary is there."""
    project = copy_project(tmp_path)
    env = user_env(sim.url, TAP_DAKTELA__SELECT=json.dumps(["tickets.*", "users.*"]))
    installed = run_meltano(project, "install", env=env)
    assert installed.returncode == 0, installed.stderr[-2000:]
    done = run_meltano(project, "run", "tap-daktela", "target-csv", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    for chatter in ("METRIC", "Appending", "Writing to destination file", "Skipping deselected stream"):
        assert chatter not in log, chatter
    assert f"tickets: {len(sim.records('tickets'))} records, " in log
    assert f"users: {len(sim.records('users'))} records, " in log
    assert "Run summary: 2 streams, " in log


def test_failed_run_summary_then_the_error_line(tmp_path, fresh_sim, discovered_catalog):
    fresh_sim.knobs.forbidden_endpoints = {"users"}
    run = sync(tmp_path, fresh_sim, discovered_catalog, page_size=20)
    assert run.returncode == 1
    lines = summary_lines(run.stderr)
    assert lines["tickets"].startswith(f"{len(fresh_sim.records('tickets'))} records, ")
    assert lines["users"].endswith("(stopped by an error)"), lines["users"]
    assert run.error_line.startswith("tap-daktela: error: no rights for endpoint 'users' (HTTP 403)"), run.error_line
