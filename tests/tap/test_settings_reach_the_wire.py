"""Every tap setting reaches the wire or the output: one test per setting, through the real CLI and real sockets.

What reached the simulator is read from its counters and from a request log recorded by a hook on this module's
own simulator (each request's arrival time, method, path, query pairs and token header), since the simulator
keeps no request log of its own. A setting that is parsed but never used fails here.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import PASSWORD, USERNAME, TapRun, run_tap, select, tap_config
from tests.simulator import DaktelaSimulator
from tests.simulator.tls import server_context

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass
class Request:
    at: float
    method: str
    path: str
    query: list[tuple[str, str]]
    token: str | None

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    def filters(self) -> list[tuple[str, str, str]]:
        """(field, operator, value) of every condition, at any depth of `filter[...]`."""
        found: dict[str, dict[str, str]] = {}
        for key, value in self.query:
            match = re.fullmatch(r"(filter(?:\[[^\]]+\])*)\[(field|operator|value)\]", key)
            if match:
                found.setdefault(match.group(1), {})[match.group(2)] = value
        return [(c.get("field", ""), c.get("operator", ""), c.get("value", "")) for c in found.values()]


class Wire:
    """Requests as they arrived at the simulator (recorded by wrapping its per-simulator handler class)."""

    def __init__(self, sim: DaktelaSimulator) -> None:
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.handler = sim._server.RequestHandlerClass
        handle = self.handler._handle
        wire = self

        def recording(handler, method: str) -> None:
            parts = urlsplit(handler.path)
            request = Request(
                time.monotonic(),
                method,
                parts.path,
                parse_qsl(parts.query, keep_blank_values=True),
                handler.headers.get("X-AUTH-TOKEN"),
            )
            with wire.lock:
                wire.requests.append(request)
            handle(handler, method)

        self.handler._handle = recording

    def close(self) -> None:
        del self.handler._handle

    def lists(self, stream: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith(f"/{stream}.json")]

    def to(self, name: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith(f"/{name}.json")]


@pytest.fixture(scope="module")
def wsim() -> Iterator[DaktelaSimulator]:
    with DaktelaSimulator(seed=31, scale="small") as simulator:
        yield simulator


@pytest.fixture
def wire(wsim: DaktelaSimulator) -> Iterator[Wire]:
    recorder = Wire(wsim)
    yield recorder
    recorder.close()


@pytest.fixture(scope="module")
def static_catalog(tmp_path_factory) -> dict:
    run = run_tap(tmp_path_factory.mktemp("discover"), {"url": "https://example.daktela.com"}, "--discover")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture
def catalog(static_catalog: dict):
    def only(*streams: str) -> dict:
        return select(json.loads(json.dumps(static_catalog)), {stream: None for stream in streams})

    return only


@pytest.fixture
def clean_env(monkeypatch) -> None:
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def token_config(sim: DaktelaSimulator, **overrides) -> dict:
    """Static token and a time zone: no login and no whoim, so the only requests are the streams' own.

    The tests that count requests read `groups` (no nested references): the tap reads it with exactly one request
    when it fits a page (streams with references first sample one record and probe dotted fields)."""
    config = tap_config(sim, access_token=sim.static_token, timezone="Europe/Prague")
    del config["username"], config["password"]
    return config | overrides


def names(records: list[dict], key: str = "name") -> list[str]:
    return sorted(str(record[key]) for record in records)


def ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


# --- where and as whom --------------------------------------------------------------------------------------


def test_url(tmp_path: Path, wsim: DaktelaSimulator, catalog) -> None:
    with DaktelaSimulator(seed=32, scale="small") as other:
        run = ok(run_tap(tmp_path, tap_config(wsim, url=other.url + "/api/v6/"), catalog=catalog("groups")))
        assert other.counters.list_requests["groups"] == 1 and other.counters.logins == 1
        assert names(run.records("groups")) == names(other.records("groups"))
    assert wsim.counters.requests == 0


def test_username_and_password(tmp_path: Path, wsim: DaktelaSimulator, wire: Wire, catalog) -> None:
    ok(run_tap(tmp_path, tap_config(wsim, timezone="Europe/Prague"), catalog=catalog("groups", "pauses")))
    [login] = wire.to("login")
    assert login.method == "POST" and login.token is None
    assert wsim.counters.logins == 1 and wsim.counters.login_failures == 0
    issued = {r.token for r in wire.lists("groups") + wire.lists("pauses")}
    assert len(issued) == 1 and None not in issued and wsim.static_token not in issued
    assert dict(wsim.counters.auth_transports) == {"header": 2}  # never in a URL or a cookie

    wsim.reset_counters()
    run = run_tap(tmp_path, tap_config(wsim, password="wrong-" + PASSWORD), catalog=catalog("groups"))
    assert run.returncode == 1 and USERNAME in run.error_line and "wrong username or password" in run.error_line
    assert wsim.counters.login_failures == 1 and wsim.counters.logins == 0


def test_access_token(tmp_path: Path, wsim: DaktelaSimulator, wire: Wire, catalog) -> None:
    ok(run_tap(tmp_path, token_config(wsim), catalog=catalog("groups", "pauses")))
    assert wire.to("login") == [] and wsim.counters.logins == 0
    assert {r.token for r in wire.lists("groups") + wire.lists("pauses")} == {wsim.static_token}
    assert dict(wsim.counters.auth_transports) == {"header": 2}

    wsim.reset_counters()
    run = run_tap(tmp_path, token_config(wsim, access_token="not-the-token"), catalog=catalog("groups"))
    assert run.returncode == 1 and wsim.counters.by_status[401] >= 1


# --- paging and concurrency ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [7, 1000])
def test_page_size(tmp_path: Path, wsim: DaktelaSimulator, wire: Wire, catalog, page_size: int) -> None:
    run = ok(run_tap(tmp_path, token_config(wsim, page_size=page_size), catalog=catalog("groups")))
    requests = wire.lists("groups")
    assert {r.params["take"] for r in requests} == {str(page_size)}
    total = len(wsim.records("groups"))
    assert len(requests) >= math.ceil(total / page_size)
    if page_size >= total:
        assert len(requests) == 1
    assert names(run.records("groups")) == names(wsim.records("groups"))


@pytest.mark.parametrize("concurrency", [1, 6])
def test_max_concurrent_requests(tmp_path: Path, wsim: DaktelaSimulator, catalog, concurrency: int) -> None:
    wsim.knobs.latency_ms = 25
    config = token_config(wsim, page_size=3, max_concurrent_requests=concurrency)
    run = ok(run_tap(tmp_path, config, catalog=catalog("tickets")))
    assert wsim.counters.list_requests["tickets"] > 2 * concurrency
    if concurrency == 1:
        assert wsim.counters.peak_in_flight == 1
    else:
        assert 2 <= wsim.counters.peak_in_flight <= concurrency
    assert names(run.records("tickets")) == names(wsim.records("tickets"))


# --- timeouts and retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [1, 15])
def test_request_timeout(tmp_path: Path, wsim: DaktelaSimulator, wire: Wire, catalog, timeout: int) -> None:
    wsim.knobs.slow_requests, wsim.knobs.slow_seconds = 1, 2.5  # the first request answers after 2.5 s
    try:
        run = ok(run_tap(tmp_path, token_config(wsim, request_timeout=timeout), catalog=catalog("groups")))
    finally:
        deadline = time.monotonic() + 10  # the abandoned slow request must not finish inside the next test
        while wsim.counters.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
    expected = 2 if timeout < 2.5 else 1  # a timed-out request is asked again
    assert len(wire.lists("groups")) == expected
    assert ("Timeout" in run.stderr) is (expected == 2)
    assert names(run.records("groups")) == names(wsim.records("groups"))


@pytest.mark.parametrize("retries", [0, 2])
def test_max_retries(tmp_path: Path, wsim: DaktelaSimulator, catalog, retries: int) -> None:
    wsim.knobs.fail_next = [503] * 10
    run = run_tap(tmp_path, token_config(wsim, max_retries=retries), catalog=catalog("groups"))
    assert run.returncode == 1
    assert wsim.counters.by_status[503] == retries + 1 and wsim.counters.requests == retries + 1
    assert f"after {retries + 1} tries" in run.error_line and "503" in run.error_line, run.error_line


def test_backoff_base_seconds(tmp_path: Path, wsim: DaktelaSimulator, wire: Wire, catalog) -> None:
    wsim.knobs.fail_next = [503, 503]
    run = ok(run_tap(tmp_path, token_config(wsim, backoff_base_seconds=0.4), catalog=catalog("groups")))
    requests = wire.lists("groups")
    assert len(requests) == 3
    # The waits the tap announces: base, then double (plus up to 25% jitter).
    waits = [float(w) for w in re.findall(r"retry \d+ in ([\d.]+) s", run.stderr)]
    assert len(waits) == 2 and 0.4 <= waits[0] <= 0.6 and 0.8 <= waits[1] <= 1.1, waits
    # And the gaps the simulator saw: never shorter (a sleep never ends early), loosely bounded above.
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]
    assert 0.4 <= gaps[0] < 3 and 0.8 <= gaps[1] < 4, gaps


# --- TLS ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_sim(tmp_path_factory) -> Iterator[DaktelaSimulator]:
    ca = tmp_path_factory.mktemp("ca") / "ca.pem"
    with DaktelaSimulator(seed=33, scale="small", tls=server_context(ca)) as simulator:
        simulator.ca_path = ca  # type: ignore[attr-defined]
        yield simulator


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("verify", [True, False])
def test_verify_ssl(tmp_path: Path, https_sim: DaktelaSimulator, catalog, verify: bool) -> None:
    run = run_tap(tmp_path, tap_config(https_sim, verify_ssl=verify, max_retries=0), catalog=catalog("groups"))
    if verify:  # the throwaway CA is trusted nowhere
        assert run.returncode == 1 and "TLS certificate check failed" in run.error_line
        assert https_sim.counters.requests == 0
    else:
        ok(run)
        assert https_sim.counters.logins == 1 and https_sim.counters.list_requests["groups"] == 1
        assert names(run.records("groups")) == names(https_sim.records("groups"))


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("which", ["the-server-ca", "another-ca"])
def test_ca_bundle(tmp_path: Path, https_sim: DaktelaSimulator, catalog, which: str) -> None:
    bundle = https_sim.ca_path  # type: ignore[attr-defined]
    if which == "another-ca":
        bundle = tmp_path / "other.pem"
        server_context(bundle)
    run = run_tap(tmp_path, tap_config(https_sim, ca_bundle=str(bundle), max_retries=0), catalog=catalog("groups"))
    if which == "the-server-ca":
        ok(run)
        assert https_sim.counters.list_requests["groups"] == 1
        assert "certificates are not checked" not in run.stderr
    else:
        assert run.returncode == 1 and str(bundle) in run.error_line, run.error_line
        assert https_sim.counters.requests == 0


# --- time -------------------------------------------------------------------------------------------------


def local_to_iso(naive: str, zone: str) -> str:
    return datetime.fromisoformat(naive).replace(tzinfo=ZoneInfo(zone)).isoformat()


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
def test_timezone(tmp_path: Path, wsim: DaktelaSimulator, wire: Wire, catalog, zone: str) -> None:
    """The simulator (Europe/Prague) is told otherwise: the configured zone is what the tap believes."""
    config = token_config(wsim, timezone=zone, start_date="2024-06-01T00:00:00+00:00")
    run = ok(run_tap(tmp_path, config, catalog=catalog("tickets")))
    lower = datetime.fromisoformat("2024-06-01T00:00:00+00:00").astimezone(ZoneInfo(zone))
    expected = lower.strftime("%Y-%m-%d %H:%M:%S")
    requests = wire.lists("tickets")
    assert requests and all(("edited", "gte", expected) in r.filters() for r in requests), requests[0].filters()
    emitted = {str(r["name"]): r["edited"] for r in run.records("tickets")}
    served = {str(r["name"]): r["edited"] for r in wsim.records("tickets")}
    assert emitted and all(value == local_to_iso(served[name], zone) for name, value in emitted.items())


def test_start_date_and_end_date(tmp_path: Path, wsim: DaktelaSimulator, wire: Wire, catalog) -> None:
    edited = sorted(r["edited"] for r in wsim.records("tickets"))
    start, end = edited[15], edited[40]  # naive Prague times of served records
    config = token_config(wsim, start_date=start.replace(" ", "T"), end_date=end.replace(" ", "T"))
    run = ok(run_tap(tmp_path, config, catalog=catalog("tickets")))
    requests = wire.lists("tickets")
    assert requests and all({("edited", "gte", start), ("edited", "lt", end)} <= set(r.filters()) for r in requests)
    inside = [r for r in wsim.records("tickets") if start <= r["edited"] < end]
    assert names(run.records("tickets")) == names(inside) and len(inside) == 25
    assert run.final_state["bookmarks"]["tickets"]["replication_key_value"] == local_to_iso(
        max(r["edited"] for r in inside), "Europe/Prague"
    )


@pytest.mark.parametrize("days", [0, 2.5])
def test_lookback_window_days(tmp_path: Path, wsim: DaktelaSimulator, wire: Wire, catalog, days: float) -> None:
    """activitiesCall is keyed on a creation time: the run re-reads `lookback_window_days` before its bookmark."""
    times = sorted(r["call_time"] for r in wsim.records("activitiesCall"))
    bookmark_local = times[12]
    state = {
        "bookmarks": {
            "activitiesCall": {
                "replication_key": "call_time",
                "replication_key_value": local_to_iso(bookmark_local, "Europe/Prague"),
            }
        }
    }
    config = token_config(wsim, lookback_window_days=days)
    run = ok(run_tap(tmp_path, config, catalog=catalog("activitiesCall"), state=state))
    expected = datetime.fromisoformat(local_to_iso(bookmark_local, "Europe/Prague")).timestamp() - days * 86400
    lower = datetime.fromtimestamp(expected, ZoneInfo("Europe/Prague")).strftime("%Y-%m-%d %H:%M:%S")
    requests = wire.lists("activitiesCall")
    assert requests and all(("call_time", "gte", lower) in r.filters() for r in requests), requests[0].filters()
    inside = [r for r in wsim.records("activitiesCall") if r["call_time"] >= lower]
    assert names(run.records("activitiesCall"), "id_call") == names(inside, "id_call")


# --- record shape -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flat", [False, True])
def test_flatten_records(tmp_path: Path, wsim: DaktelaSimulator, catalog, flat: bool) -> None:
    run = ok(run_tap(tmp_path, token_config(wsim, flatten_records=flat), catalog=catalog("tickets")))
    records = run.records("tickets")
    with_user = [r for r in wsim.records("tickets") if r.get("user")]
    assert with_user
    emitted = {str(r["name"]): r for r in records}
    for served in with_user:
        record = emitted[str(served["name"])]
        if flat:
            assert "user" not in record and record["user_name"] == served["user"]["name"]
            assert all(not isinstance(value, dict) for value in record.values())
        else:
            assert "user_name" not in record and record["user"]["name"] == served["user"]["name"]


def live_catalog(tmp_path: Path, config: dict, *streams: str) -> dict:
    run = run_tap(tmp_path, config, "--discover")
    assert run.returncode == 0, run.stderr[-2000:]
    return select(json.loads(run.stdout), {stream: None for stream in streams})


@pytest.mark.parametrize("mode", ["keys", "full"])
def test_nested_objects(tmp_path: Path, wsim: DaktelaSimulator, catalog, mode: str) -> None:
    config = token_config(wsim, nested_objects=mode)
    run = ok(run_tap(tmp_path, config, catalog=live_catalog(tmp_path, config, "tickets")))
    emitted = {str(r["name"]): r for r in run.records("tickets")}
    served = [r for r in wsim.records("tickets") if r.get("user")]
    for record in served:
        user = emitted[str(record["name"])]["user"]
        if mode == "keys":
            assert set(user) == {"name", "title"}, sorted(user)
        else:
            assert set(user) > {"name", "title"} and user["name"] == record["user"]["name"]
            assert {"email"} & set(user) or len(user) > 5, sorted(user)
