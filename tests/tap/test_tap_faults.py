"""Faults and bad input: retried where they are transient, one clear line and exit 1 where they are not."""

from __future__ import annotations

import copy
import socket
import time

import pytest

from tests.conftest import PASSWORD, run_tap, select, tap_config

TOKEN = "static-token-0123456789"


@pytest.fixture
def one_stream(discovered_catalog):
    return select(copy.deepcopy(discovered_catalog), {"contacts": None})


def assert_clean_failure(run, expected_line: str):
    assert run.returncode == 1, run.stderr
    assert run.error_line == f"tap-daktela: error: {expected_line}"
    assert PASSWORD not in run.stderr and PASSWORD not in run.stdout
    assert TOKEN not in run.stderr and TOKEN not in run.stdout
    assert "Traceback" not in run.stderr


def complete(run, sim, stream="contacts"):
    assert run.returncode == 0, run.stderr
    return len(run.records(stream)) == len(sim.records(stream))


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("fail_next", [503, 500, 502]),
        ("drop_next", 2),
        ("malformed_next", 1),
        ("fail_endpoint", {"contacts": [504, 408]}),
    ],
)
def test_transient_faults_are_retried(sim, tmp_path, one_stream, knob, value):
    setattr(sim.knobs, knob, copy.deepcopy(value))
    run = run_tap(tmp_path, tap_config(sim, access_token=TOKEN, page_size=10), catalog=one_stream)
    assert complete(run, sim)
    assert "retry" in run.stderr


def test_rate_limit_honours_retry_after(sim, tmp_path, one_stream):
    sim.knobs.rate_limit_next = 1
    sim.knobs.retry_after = 2
    started = time.monotonic()
    run = run_tap(tmp_path, tap_config(sim, access_token=TOKEN), catalog=one_stream)
    assert complete(run, sim)
    assert time.monotonic() - started >= 2
    assert "HTTP 429" in run.stderr


def test_persistent_server_error_fails_naming_endpoint_and_status(sim, tmp_path, one_stream):
    sim.knobs.fail_endpoint = {"contacts": [503] * 10}
    try:
        run = run_tap(tmp_path, tap_config(sim, access_token=TOKEN, max_retries=2), catalog=one_stream)
    finally:
        sim.knobs.fail_endpoint = {}
    assert_clean_failure(run, "giving up after 3 tries: HTTP 503 from endpoint 'contacts': Simulated error 503")
    assert run.records("contacts") == []


def test_bad_credentials(sim, tmp_path, one_stream):
    run = run_tap(tmp_path, tap_config(sim, password="wrong-password"), catalog=one_stream)
    assert_clean_failure(run, f"login to {sim.url} as 'api_user' failed: wrong username or password")


def test_bad_static_token(sim, tmp_path, one_stream):
    config = tap_config(sim, access_token="not-a-valid-token")
    del config["username"], config["password"]
    run = run_tap(tmp_path, config, catalog=one_stream)
    assert_clean_failure(run, "the access token was refused for endpoint 'contacts' (HTTP 401)")


def test_expired_token_logs_in_again_once(sim, tmp_path, one_stream):
    sim.reset_counters()
    sim.knobs.token_ttl_requests = 2
    try:
        run = run_tap(tmp_path, tap_config(sim, page_size=5, max_concurrent_requests=1), catalog=one_stream)
    finally:
        sim.knobs.token_ttl_requests = None
    assert complete(run, sim)
    assert sim.counters.logins >= 2
    assert "logged in again" in run.stderr


def test_forbidden_endpoint(sim, tmp_path, one_stream):
    sim.knobs.forbidden_endpoints = {"contacts"}
    try:
        run = run_tap(tmp_path, tap_config(sim), catalog=one_stream)
    finally:
        sim.knobs.forbidden_endpoints = set()
    assert_clean_failure(
        run, "no rights for endpoint 'contacts' (HTTP 403): Forbidden: you do not have rights for this endpoint"
    )


def test_endpoint_missing_on_instance(sim, tmp_path, one_stream):
    sim.knobs.fail_endpoint = {"contacts": [404]}
    run = run_tap(tmp_path, tap_config(sim), catalog=one_stream)
    assert_clean_failure(run, "endpoint 'contacts' does not exist on this instance (HTTP 404)")


def test_unreachable_instance(tmp_path, one_stream):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {"url": f"http://127.0.0.1:{port}", "username": "api_user", "password": PASSWORD}
    run = run_tap(tmp_path, config, catalog=one_stream)
    assert_clean_failure(run, f"cannot reach Daktela at http://127.0.0.1:{port}: connection refused (check the url)")
    assert "retry" not in run.stderr  # a refused connection at login is a wrong URL: no retries


def test_malformed_json_fails_after_retries(sim, tmp_path, one_stream):
    sim.knobs.malformed_next = 10
    try:
        run = run_tap(tmp_path, tap_config(sim, access_token=TOKEN, max_retries=1), catalog=one_stream)
    finally:
        sim.knobs.malformed_next = 0
    assert run.returncode == 1
    assert run.error_line.startswith(
        "tap-daktela: error: giving up after 2 tries: endpoint 'contacts' returned malformed JSON"
    )
    assert run.records("contacts") == []


def test_unknown_envelope(sim, tmp_path, one_stream):
    sim.knobs.bad_envelope_next = 1
    run = run_tap(tmp_path, tap_config(sim, access_token=TOKEN), catalog=one_stream)
    assert_clean_failure(
        run, "endpoint 'contacts' returned an unknown envelope (expected result.data and result.total)"
    )


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"start_date": "last tuesday"}, "start_date 'last tuesday' is not a date"),
        ({"end_date": "2024-02-30"}, "end_date '2024-02-30' is not a date"),
        (
            {"start_date": "2024-05-01", "end_date": "2024-04-01"},
            "start_date '2024-05-01' is after end_date '2024-04-01'",
        ),
        ({"url": "mycompany.daktela.com"}, "url 'mycompany.daktela.com' must start with https:// (or http://)"),
        ({"username": None, "password": None}, "set either access_token, or username and password"),
        ({"page_size": 0}, "page_size 0 must be between 1 and 1000"),
        ({"max_concurrent_requests": 0}, "max_concurrent_requests must be at least 1"),
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA time zone"),
        # settings the SDK's JSON schema rejects: the same one line and exit 1 (the SDK alone would exit 0)
        ({"url": None}, "invalid settings: 'url' is a required property"),
        ({"page_size": "abc"}, "invalid settings: 'abc' is not of type 'integer', 'null' in config['page_size']"),
        ({"password": 987654321}, "invalid settings: *** is not of type 'string', 'null' in config['password']"),
        ({"nested_objects": "some"}, "invalid settings: 'some' is not one of ['keys', 'full']"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle '/nonexistent/ca.pem' is not a readable file"),
    ],
)
def test_bad_settings_fail_before_any_request(sim, tmp_path, one_stream, overrides, line):
    config = {key: value for key, value in {**tap_config(sim), **overrides}.items() if value is not None}
    sim.reset_counters()
    run = run_tap(tmp_path, config, catalog=one_stream)
    assert run.returncode == 1
    assert run.error_line.startswith(f"tap-daktela: error: {line}")
    assert sim.counters.requests == 0
    assert run.messages == []
    assert "987654321" not in run.stderr  # a secret's value never appears, even when it is the invalid one


def test_page_size_above_maximum_is_capped_with_a_log_line(sim, tmp_path, one_stream):
    sim.reset_counters()
    run = run_tap(tmp_path, tap_config(sim, page_size=5000), catalog=one_stream)
    assert complete(run, sim)
    assert "page_size 5000 is above Daktela's maximum; using 1000" in run.stderr


def test_missing_or_malformed_files_are_one_line(tmp_path):
    """A --config file that is not there, or not JSON: one line and exit 1, no traceback."""
    import subprocess

    from tests.conftest import BIN

    missing = subprocess.run(
        [str(BIN / "tap-daktela"), "--config", str(tmp_path / "nope.json")], capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"tap-daktela: error: File at '{tmp_path / 'nope.json'}' was not found."
    ]
    (tmp_path / "bad.json").write_text("{bad")
    malformed = subprocess.run(
        [str(BIN / "tap-daktela"), "--config", str(tmp_path / "bad.json")], capture_output=True, text=True
    )
    assert malformed.returncode == 1
    assert len(malformed.stderr.strip().splitlines()) == 1
    assert malformed.stderr.startswith(f"tap-daktela: error: --config file {tmp_path / 'bad.json'} is not valid JSON")


def test_a_failure_is_not_preceded_by_the_sdk_announcement(sim, tmp_path, one_stream):
    sim.knobs.forbidden_endpoints = {"contacts"}
    run = run_tap(tmp_path, tap_config(sim), catalog=one_stream)
    assert run.returncode == 1
    assert run.error_line.startswith("tap-daktela: error: no rights for endpoint 'contacts' (HTTP 403)")
    assert "An unhandled error occurred" not in run.stderr


def test_a_400_without_a_date_filter_is_an_error_not_the_date_filter_quirk(sim, tmp_path, discovered_catalog):
    """The date-filter fallback is for a 400 to a request that filtered on the date. A 400 to a request that did
    not (no start_date, no bookmark: the sort and fields[] still name the replication key) is reported as it is."""
    catalog = select(copy.deepcopy(discovered_catalog), {"activitiesChat": None})
    sim.knobs.fail_endpoint = {"activitiesChat": [400]}
    run = run_tap(tmp_path, tap_config(sim), catalog=catalog)
    assert run.returncode == 1
    assert run.error_line.startswith("tap-daktela: error: endpoint 'activitiesChat' rejected the request (HTTP 400)")
    assert "reading it without the date filter" not in run.stderr
    assert run.records("activitiesChat") == []


def test_a_400_to_a_date_filtered_request_falls_back_and_delivers_exactly_the_window(sim, tmp_path, discovered_catalog):
    catalog = select(copy.deepcopy(discovered_catalog), {"activitiesChat": None})
    sim.knobs.reject_date_filter = {"activitiesChat"}
    run = run_tap(tmp_path, tap_config(sim, start_date="2024-06-01", end_date="2025-01-01"), catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert "reading it without the date filter" in run.stderr
    expected = sim.total("activitiesChat", start="2024-06-01", end="2025-01-01")
    names = [r["name"] for r in run.records("activitiesChat")]
    assert len(names) == len(set(names)) == expected
