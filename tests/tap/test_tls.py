"""TLS and the run's one HTTP session, through real sockets: the tap, the Keboola component and `meltano run`
against the simulator's HTTPS mode (a throwaway `trustme` CA that no machine trusts).

Every case runs in two environments: a clean one, and one where `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` name a
system bundle (without the test CA), as on many machines and CI images, since `requests` lets those variables
override a session's `verify` on `Session.request`. The pool tests count the TCP connections the simulator
accepts, through a hook on its server instance (the simulator has no such counter).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from tap_daktela.endpoints import ENDPOINTS_BY_NAME
from tests.conftest import PASSWORD, REPO, USERNAME, TapRun, run_tap, select, tap_config
from tests.meltano_project import copy_project, run_meltano, user_env
from tests.simulator import DaktelaSimulator
from tests.simulator.tls import server_context

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
NOT_CHECKED = "TLS certificates are not checked"
STREAMS = ("users", "tickets")
AMBIENT = {
    "clean": {},
    "system-bundle-in-env": {"REQUESTS_CA_BUNDLE": certifi.where(), "CURL_CA_BUNDLE": certifi.where()},
}


def ambient_params() -> list:
    """A clean environment, and one whose REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE name the system bundle (as on many
    machines): the settings must win over those variables."""
    return [pytest.param("clean", id="clean"), pytest.param("system-bundle-in-env", id="env-bundle")]


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """os.environ without the CA variables, plus `values` (the tap runners copy os.environ)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in CA_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in values.items():
            patch.setenv(name, value)
        yield


class ConnectionCounter:
    """TCP connections the simulator accepted (counted on its server instance, removed on `close`)."""

    def __init__(self, sim: DaktelaSimulator) -> None:
        self.server = sim._server
        self.count = 0
        self.lock = threading.Lock()
        accept = self.server.process_request

        def process_request(request, client_address) -> None:
            with self.lock:
                self.count += 1
            accept(request, client_address)

        self.server.process_request = process_request

    def close(self) -> None:
        del self.server.process_request


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ca") / "ca.pem"


@pytest.fixture(scope="module")
def tls_sim(ca_pem: Path) -> Iterator[DaktelaSimulator]:
    with DaktelaSimulator(seed=21, scale="small", tls=server_context(ca_pem)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> dict:
    run = run_tap(tmp_path_factory.mktemp("discover"), {"url": "https://example.daktela.com"}, "--discover")
    assert run.returncode == 0, run.stderr
    return select(json.loads(run.stdout), {stream: None for stream in STREAMS})


def names(records: list[dict], key: str = "name") -> list[str]:
    return sorted(str(record[key]) for record in records)


def assert_complete(run: TapRun, sim: DaktelaSimulator, streams: tuple[str, ...] = STREAMS) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in streams:
        assert names(run.records(stream)) == names(sim.records(stream)), stream
    assert set(run.final_state.get("bookmarks", {})) >= {"tickets"}


def assert_quiet_about_verification(stderr: str) -> None:
    """Exactly one line says certificates are not checked; urllib3 never warns per request."""
    lines = [line for line in stderr.splitlines() if NOT_CHECKED in line]
    assert len(lines) == 1, lines
    assert "InsecureRequestWarning" not in stderr
    assert "Unverified HTTPS request" not in stderr


# --- the tap ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ambient", ambient_params())
def test_untrusted_certificate_ends_with_one_line_naming_the_setting(
    tmp_path: Path, tls_sim: DaktelaSimulator, ambient: str
) -> None:
    with environment(**AMBIENT[ambient]):
        run = run_tap(tmp_path, tap_config(tls_sim))  # no catalog: live discovery, then every stream
    assert run.returncode == 1
    assert run.error_line.startswith("tap-daktela: error: TLS certificate check failed for https://127.0.0.1:")
    assert "ca_bundle" in run.error_line and "verify_ssl" in run.error_line, run.error_line
    assert any(
        problem in run.error_line
        for problem in ("unable to get local issuer certificate", "self-signed certificate", "CERTIFICATE_VERIFY")
    ), run.error_line
    assert "Traceback" not in run.stderr
    assert [m for m in run.messages if m["type"] in ("RECORD", "STATE")] == []  # nothing looks complete
    assert tls_sim.counters.requests == 0  # no request got past the handshake


def test_untrusted_certificate_is_not_retried(tmp_path: Path, tls_sim: DaktelaSimulator, catalog: dict) -> None:
    counter = ConnectionCounter(tls_sim)
    try:
        with environment():
            run = run_tap(tmp_path, tap_config(tls_sim, max_retries=3), catalog=catalog)
    finally:
        counter.close()
    assert run.returncode == 1
    assert counter.count == 1  # one handshake: the certificate will not change in the next second


@pytest.mark.parametrize("ambient", ambient_params())
def test_verify_ssl_false_reads_everything_and_says_so_once(
    tmp_path: Path, tls_sim: DaktelaSimulator, ambient: str
) -> None:
    with environment(**AMBIENT[ambient]):
        run = run_tap(tmp_path, tap_config(tls_sim, verify_ssl=False))  # live discovery too, every stream
    assert run.returncode == 0, run.error_line
    for stream in tls_sim.endpoints:
        key = ENDPOINTS_BY_NAME[stream].primary_key
        expected = [
            value["name"] if isinstance(value, dict) else value
            for value in (record[key] for record in tls_sim.records(stream))
        ]  # a session's agent: its name
        assert names(run.records(stream), key) == sorted(str(value) for value in expected), stream
    assert_quiet_about_verification(run.stderr)


@pytest.mark.parametrize("ambient", ambient_params())
def test_ca_bundle_trusts_the_private_ca_with_checks_on(
    tmp_path: Path, tls_sim: DaktelaSimulator, ca_pem: Path, ambient: str
) -> None:
    with environment(**AMBIENT[ambient]):
        run = run_tap(tmp_path, tap_config(tls_sim, ca_bundle=str(ca_pem)))
    assert_complete(run, tls_sim)
    assert NOT_CHECKED not in run.stderr


def test_ca_bundle_of_another_ca_fails_naming_ca_bundle(tmp_path: Path, tls_sim: DaktelaSimulator) -> None:
    other = tmp_path / "other-ca.pem"
    server_context(other)  # a second throwaway CA: checks stay on, and this one did not sign the simulator
    with environment():
        run = run_tap(tmp_path, tap_config(tls_sim, ca_bundle=str(other), max_retries=0))
    assert run.returncode == 1
    assert run.error_line.startswith("tap-daktela: error: TLS certificate check failed"), run.error_line
    assert str(other) in run.error_line and "ca_bundle" in run.error_line
    assert run.records() == []


@pytest.mark.parametrize("variable", CA_VARIABLES)
def test_ca_from_the_environment(
    tmp_path: Path, tls_sim: DaktelaSimulator, ca_pem: Path, catalog: dict, variable: str
) -> None:
    with environment(**{variable: str(ca_pem)}):
        run = run_tap(tmp_path, tap_config(tls_sim), catalog=catalog)
    assert_complete(run, tls_sim)
    assert NOT_CHECKED not in run.stderr


def test_ca_bundle_setting_wins_over_the_environment_variable(
    tmp_path: Path, tls_sim: DaktelaSimulator, ca_pem: Path, catalog: dict
) -> None:
    """A catalog and an access token and a time zone: no login or whoim, only the streams' requests."""
    config = tap_config(tls_sim, ca_bundle=str(ca_pem), access_token=tls_sim.static_token, timezone="Europe/Prague")
    del config["username"], config["password"]
    with environment(REQUESTS_CA_BUNDLE=certifi.where()):
        run = run_tap(tmp_path, config, catalog=catalog)
    assert_complete(run, tls_sim)


# --- the pool -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool_sim(tmp_path_factory) -> Iterator[DaktelaSimulator]:
    ca = tmp_path_factory.mktemp("pool-ca") / "ca.pem"
    sizes = {"tickets": 300, "users": 25}
    with DaktelaSimulator(seed=22, scale="small", sizes=sizes, tls=server_context(ca)) as simulator:
        simulator.ca_path = ca  # type: ignore[attr-defined]
        yield simulator


@pytest.mark.parametrize(
    ("concurrency", "tls"),
    [pytest.param(16, {"verify_ssl": False}, id="16-verify-off"), pytest.param(50, "ca_bundle", id="50-ca-bundle")],
)
def test_pool_holds_max_concurrent_requests_and_keeps_connections_alive(
    tmp_path: Path, pool_sim: DaktelaSimulator, catalog: dict, concurrency: int, tls
) -> None:
    """page_size 2: every page adds one record (pages overlap by one), so tickets is ~300 requests, read
    `concurrency` at a time with some latency, over HTTPS."""
    settings = {"ca_bundle": str(pool_sim.ca_path)} if tls == "ca_bundle" else tls  # type: ignore[attr-defined]
    pool_sim.knobs.latency_ms = 15
    counter = ConnectionCounter(pool_sim)
    try:
        with environment():
            run = run_tap(
                tmp_path,
                tap_config(pool_sim, max_concurrent_requests=concurrency, page_size=2, **settings),
                catalog=catalog,
            )
    finally:
        counter.close()
    assert_complete(run, pool_sim)
    list_requests = sum(pool_sim.counters.list_requests.values())
    assert list_requests > 250
    assert pool_sim.counters.peak_in_flight > 4  # the pages really were read concurrently
    assert "Connection pool is full" not in run.stderr
    # Kept alive across pages: the pool's connections (max_concurrent_requests + 2) and a few, not one a page.
    assert counter.count <= concurrency + 2 + 3, (counter.count, list_requests)


# --- the Keboola component ----------------------------------------------------------------------------------


def run_component(data_dir: Path, connection: dict, env: dict[str, str]) -> subprocess.CompletedProcess:
    (data_dir / "in").mkdir(parents=True)
    (data_dir / "out" / "tables").mkdir(parents=True)
    config = {
        "parameters": {
            "connection": {"username": USERNAME, "#password": PASSWORD, **connection},
            "data_selection": {
                "date_from": "2000-01-01",
                "date_to": "now",
                "endpoints": [{"endpoint": stream, "fields": []} for stream in STREAMS],
            },
            "destination": {"incremental": False},
            "advanced": {"batch_size": 20, "max_concurrent_requests": 10},
            "debug": False,
        }
    }
    (data_dir / "config.json").write_text(json.dumps(config))
    base = {key: value for key, value in os.environ.items() if key not in CA_VARIABLES and key != "KBC_RUNID"}
    return subprocess.run(
        [sys.executable, "-m", "keboola_wrapper"],
        cwd=REPO,
        env=base | env | {"KBC_DATADIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def table_names(data_dir: Path, stream: str) -> list[str]:
    with (data_dir / "out" / "tables" / f"{stream}.csv").open(newline="", encoding="utf-8") as handle:
        return sorted(row["name"] for row in csv.DictReader(handle))


@pytest.fixture(scope="module")
def component_runs(tmp_path_factory, tls_sim: DaktelaSimulator, ca_pem: Path) -> dict:
    """One component run per (connection setting, environment), shared by the assertions below."""
    runs = {}
    connections = {
        "verify-off": {"verify_ssl": False},
        "ca-pem-text": {"ca_bundle": ca_pem.read_text()},
        "untrusted": {},
    }
    for setting, connection in connections.items():
        for ambient, env in AMBIENT.items():
            if setting == "untrusted" and ambient != "clean":
                continue  # the login retries a failed handshake with the default backoff (~8 s): once is enough
            data_dir = tmp_path_factory.mktemp(f"kbc-{setting}-{ambient}")
            runs[setting, ambient] = (data_dir, run_component(data_dir, {"url": tls_sim.url, **connection}, env))
    return runs


@pytest.mark.parametrize("ambient", AMBIENT)
@pytest.mark.parametrize("setting", ["verify-off", "ca-pem-text"])
def test_keboola_component_runs_with_the_setting(
    component_runs: dict, tls_sim: DaktelaSimulator, setting: str, ambient: str
) -> None:
    data_dir, proc = component_runs[setting, ambient]
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stream in STREAMS:
        assert table_names(data_dir, stream) == names(tls_sim.records(stream)), stream
    assert (data_dir / "out" / "state.json").is_file()
    log = proc.stdout + proc.stderr
    assert "Traceback" not in log
    if setting == "ca-pem-text":
        assert NOT_CHECKED not in log


@pytest.mark.parametrize("ambient", AMBIENT)
def test_keboola_verify_off_says_so_in_exactly_one_line(component_runs: dict, ambient: str) -> None:
    _, proc = component_runs["verify-off", ambient]
    log = proc.stdout + proc.stderr
    assert len([line for line in log.splitlines() if NOT_CHECKED in line]) == 1, log[-3000:]


@pytest.mark.parametrize("ambient", AMBIENT)
def test_keboola_verify_off_without_insecure_request_warnings(component_runs: dict, ambient: str) -> None:
    _, proc = component_runs["verify-off", ambient]
    assert_quiet_about_verification(proc.stdout + proc.stderr)


def test_keboola_untrusted_certificate_is_one_user_error(component_runs: dict) -> None:
    data_dir, proc = component_runs["untrusted", "clean"]
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("TLS certificate check failed for https://127.0.0.1:"), lines[-1]
    assert "ca_bundle" in lines[-1] and "verify_ssl" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert not any((data_dir / "out").rglob("*.csv")) and not (data_dir / "out" / "state.json").exists()


# --- meltano run --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meltano_project(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("meltano-tls"))


def meltano_env(sim: DaktelaSimulator, **extra: str) -> dict[str, str]:
    return user_env(sim.url, TAP_DAKTELA__SELECT=json.dumps(["users.*"]), **extra)


def meltano(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_meltano(project, *args, env=env)


@pytest.fixture(scope="module")
def meltano_installed(meltano_project: Path, tls_sim: DaktelaSimulator) -> Path:
    # With the machine's CA variables: uv needs them for the package index. The runs below get none of them,
    # so only the tap's settings decide.
    installed = meltano(meltano_project, "install", env=meltano_env(tls_sim))
    assert installed.returncode == 0, installed.stderr[-3000:]
    return meltano_project


def meltano_run(project: Path, sim: DaktelaSimulator, **settings: str) -> tuple[subprocess.CompletedProcess, Path]:
    env = {k: v for k, v in meltano_env(sim, **settings).items() if k not in CA_VARIABLES}
    before = set((project / "output").glob("users-*.csv"))
    done = meltano(project, "run", "tap-daktela", "target-csv", env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    output = max(set((project / "output").glob("users-*.csv")) - before or (project / "output").glob("users-*.csv"))
    return done, output


def csv_names(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return sorted(row["name"] for row in csv.DictReader(handle))


def test_meltano_run_with_verify_ssl_false(meltano_installed: Path, tls_sim: DaktelaSimulator) -> None:
    done, output = meltano_run(meltano_installed, tls_sim, TAP_DAKTELA_VERIFY_SSL="false")
    assert csv_names(output) == names(tls_sim.records("users"))
    # meltano starts the tap twice (--discover, then the sync): one line from each, nothing per request
    lines = [line for line in done.stderr.splitlines() if NOT_CHECKED in line]
    assert len(lines) == 2, lines
    assert "InsecureRequestWarning" not in done.stderr and "Traceback" not in done.stderr


def test_meltano_run_with_ca_bundle(meltano_installed: Path, tls_sim: DaktelaSimulator, ca_pem: Path) -> None:
    done, output = meltano_run(meltano_installed, tls_sim, TAP_DAKTELA_CA_BUNDLE=str(ca_pem))
    assert csv_names(output) == names(tls_sim.records("users"))
    assert NOT_CHECKED not in done.stderr and "SSLError" not in done.stderr
