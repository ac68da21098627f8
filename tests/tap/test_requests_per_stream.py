"""The nightly run pays only for what changed: at most 2 list requests per stream, plus one login and one `whoim`
per run, counted on the simulator for the tap with a catalog and a state, the tap without a catalog, and the
Keboola component's second incremental run. What the instance sends is kept in the state (`instance_facts`) and
still makes an outdated catalog warn; facts a day old are learned again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tap_daktela.endpoints import ENDPOINTS
from tests.conftest import REPO, run_tap, select, tap_config
from tests.keboola.test_wrapper_functional import run as run_component
from tests.simulator import DaktelaSimulator

STREAMS = [endpoint.name for endpoint in ENDPOINTS]
INCREMENTAL = REPO / "tests" / "keboola" / "incremental" / "source" / "data"
UNDECLARED = "the instance sends fields the catalog does not declare, so they were not extracted: "


@pytest.fixture(scope="module")
def sim():
    with DaktelaSimulator(seed=19, scale="small") as simulator:
        yield simulator


def a_few_changes(sim: DaktelaSimulator) -> None:
    for ticket in sim.records("tickets")[:3]:
        sim.update("tickets", ticket["name"])
    sim.insert("contacts", n=1)


def assert_nightly_cost(sim: DaktelaSimulator, streams: list[str]) -> dict[str, int]:
    """At most 2 list requests per stream, one login and one whoim; the counts per stream."""
    counts = dict(sim.counters.list_requests)
    assert set(counts) == set(streams), set(counts) ^ set(streams)
    assert max(counts.values()) <= 2, {stream: n for stream, n in counts.items() if n > 2}
    assert sim.counters.logins == 1
    assert sim.counters.by_endpoint["whoim"] == 1
    assert sim.counters.requests == sum(counts.values()) + 2
    return counts


def only(catalog: dict, *streams: str) -> dict:
    """A copy of `catalog` with just `streams` selected (every field)."""
    return select(json.loads(json.dumps(catalog)), dict.fromkeys(streams))


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if UNDECLARED in line]


@pytest.fixture(scope="module")
def catalog(sim, tmp_path_factory) -> dict:
    run = run_tap(tmp_path_factory.mktemp("discover"), tap_config(sim), "--discover")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_tap_with_a_catalog_and_a_state(sim, catalog, tmp_path):
    sim.reset_counters()
    first = run_tap(tmp_path, tap_config(sim), catalog=catalog)
    assert first.returncode == 0, first.stderr
    counts = assert_nightly_cost(sim, STREAMS)  # one whole record to learn the fields, then the data
    for stream in STREAMS:  # whole records (one request) show every field themselves
        facts = first.final_state["bookmarks"][stream]["instance"]
        assert bool(facts.get("fields")) == (counts[stream] == 2), (stream, facts)

    a_few_changes(sim)
    sim.reset_counters()
    second = run_tap(tmp_path, tap_config(sim), catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    counts = assert_nightly_cost(sim, STREAMS)
    assert set(counts.values()) == {1}  # the state knows the fields and the dotted fields[]: only the data
    assert {r["name"] for r in second.records("tickets")} >= {t["name"] for t in sim.records("tickets")[:3]}


def test_tap_without_a_catalog(sim, tmp_path):
    sim.reset_counters()
    first = run_tap(tmp_path, tap_config(sim))
    assert first.returncode == 0, first.stderr
    assert_nightly_cost(sim, STREAMS)  # discovery's sample, then the data

    a_few_changes(sim)
    sim.reset_counters()
    second = run_tap(tmp_path, tap_config(sim), state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert_nightly_cost(sim, STREAMS)


def test_component_first_and_second_incremental_run(sim, tmp_path):
    config = json.loads((INCREMENTAL / "config.json").read_text())
    config["parameters"]["data_selection"]["endpoints"] = [{"endpoint": stream} for stream in STREAMS]
    config["parameters"]["advanced"]["max_concurrent_endpoints"] = 4
    config["parameters"]["advanced"]["max_concurrent_requests"] = 4  # a budget its discovery keeps to as well
    sim.reset_counters()
    first = run_component(config, tmp_path / "first", sim.url, timeout=300)
    assert first.returncode == 0, first.stderr
    assert set(assert_nightly_cost(sim, STREAMS).values()) == {2}  # discovery hands what it saw to the taps
    assert sim.counters.peak_in_flight <= 4
    state = json.loads((tmp_path / "first" / "out" / "state.json").read_text())

    a_few_changes(sim)
    sim.reset_counters()
    second = run_component(config, tmp_path / "second", sim.url, state=state, timeout=300)
    assert second.returncode == 0, second.stderr
    counts = assert_nightly_cost(sim, STREAMS)  # the component's discovery sample, then the data
    assert set(counts.values()) == {2}
    assert sim.counters.peak_in_flight <= 4


def test_facts_in_the_state_still_make_an_outdated_catalog_warn(tmp_path):
    with DaktelaSimulator(seed=23, scale="small") as sim:
        config = tap_config(sim)
        old = only(json.loads(run_tap(tmp_path, config, "--discover").stdout), "tickets")
        sim.knobs.extra_fields = {"tickets": {"aiSummary": "Zákazník chce změnit tarif."}}
        first = run_tap(tmp_path, config, catalog=old)
        assert first.returncode == 0, first.stderr
        [line] = warnings(first.stderr)
        assert f"tickets: {UNDECLARED}aiSummary." in line
        assert "aiSummary" in first.final_state["bookmarks"]["tickets"]["instance"]["fields"]

        sim.reset_counters()
        second = run_tap(tmp_path, config, catalog=old, state=first.final_state)
        assert second.returncode == 0, second.stderr
        assert sim.counters.list_requests["tickets"] == 1  # the warning comes from the state's facts
        [line] = warnings(second.stderr)
        assert f"tickets: {UNDECLARED}aiSummary." in line

        stale = json.loads(json.dumps(first.final_state))
        learned = datetime.now(UTC) - timedelta(days=1, minutes=1)
        stale["bookmarks"]["tickets"]["instance"]["learned"] = learned.isoformat()
        stale["bookmarks"]["tickets"]["instance"]["fields"] = ["name"]  # a day old: learned again, not trusted
        sim.reset_counters()
        third = run_tap(tmp_path, config, catalog=old, state=stale)
        assert third.returncode == 0, third.stderr
        assert sim.counters.list_requests["tickets"] == 2
        assert len(warnings(third.stderr)) == 1
        assert datetime.fromisoformat(third.final_state["bookmarks"]["tickets"]["instance"]["learned"]) > learned


@pytest.mark.parametrize("dotted", ["ignore", "whole"])
def test_a_state_that_says_dotted_fields_are_honoured_is_corrected_by_the_records(catalog, tmp_path, dotted):
    """An instance that stopped honouring dotted fields[] (facts kept yesterday say it does): the output is the
    same, and the state says so for the next run."""
    with DaktelaSimulator(seed=19, scale="small") as sim:
        chosen = only(catalog, "tickets", "activities")
        first = run_tap(tmp_path, tap_config(sim, flatten_records=True), catalog=chosen)
        assert first.returncode == 0, first.stderr
        assert first.final_state["bookmarks"]["tickets"]["instance"]["dotted"] == {"arrays": True, "objects": True}
        sim.knobs.dotted_fields = dotted
        facts = {stream: {"instance": entry["instance"]} for stream, entry in first.final_state["bookmarks"].items()}
        corrected = run_tap(tmp_path, tap_config(sim, flatten_records=True), catalog=chosen, state={"bookmarks": facts})
        assert corrected.returncode == 0, corrected.stderr
        for stream in ("tickets", "activities"):
            assert corrected.records(stream) == first.records(stream), stream
            assert corrected.final_state["bookmarks"][stream]["instance"]["dotted"] == {
                "arrays": False,
                "objects": False,
            }


def test_streams_overlap_within_the_concurrency_and_read_what_one_stream_alone_reads(sim, catalog, tmp_path):
    """The streams' first pages are asked for ahead (from the bookmark each will start from), at most
    `max_concurrent_requests` in flight over the run; a stream read alone (nothing ahead) emits the same."""
    config = tap_config(sim, max_concurrent_requests=4)
    first = run_tap(tmp_path, config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    a_few_changes(sim)
    state = json.loads(json.dumps(first.final_state))
    state["bookmarks"]["contacts"] = {"instance": state["bookmarks"]["contacts"]["instance"]}  # a whole read too
    sim.knobs.latency_ms = 40
    sim.reset_counters()
    together = run_tap(tmp_path, config, catalog=catalog, state=state)
    assert together.returncode == 0, together.stderr
    assert 1 < sim.counters.peak_in_flight <= 4
    assert set(assert_nightly_cost(sim, STREAMS).values()) == {1}
    sim.knobs.latency_ms = 0
    for stream in ("tickets", "contacts", "activities", "users"):
        alone_catalog = only(catalog, stream)
        alone = run_tap(tmp_path, config, catalog=alone_catalog, state=state)
        assert alone.returncode == 0, alone.stderr
        assert together.records(stream) == alone.records(stream), stream
    assert len(together.records("contacts")) == len(sim.records("contacts"))


def test_an_instance_that_stops_honouring_dotted_fields_mid_stream_loses_no_key(catalog, tmp_path):
    """A page that comes back without the dotted values asked for is read again whole, from after the last record
    emitted; the output is the same, and the state says they are not honoured."""
    with DaktelaSimulator(seed=19, scale="small") as sim:
        config = tap_config(sim, page_size=7, max_concurrent_requests=1, flatten_records=True)
        chosen = only(catalog, "tickets")
        reference = run_tap(tmp_path, config, catalog=chosen)
        assert reference.returncode == 0, reference.stderr
        pages = sim.counters.list_requests["tickets"]

        def stop_honouring(server: DaktelaSimulator, endpoint: str, index: int) -> None:
            if endpoint == "tickets" and index == 4:  # the whole record, three pages, then no more dotted values
                server.knobs.dotted_fields = "ignore"

        sim.knobs.mutate_between_pages = stop_honouring
        sim.reset_counters()
        run = run_tap(tmp_path, config, catalog=chosen)
        assert run.returncode == 0, run.stderr
        assert run.records("tickets") == reference.records("tickets")
        assert sim.counters.list_requests["tickets"] == pages + 1  # the page that came back without them, again
        assert run.final_state["bookmarks"]["tickets"]["instance"]["dotted"]["objects"] is False
        assert "Dotted fields[] for nested objects are not honoured by the instance" in run.stderr


def test_a_rejected_dotted_query_is_asked_again_without_them(catalog, tmp_path):
    """An endpoint that answers HTTP 400 to dotted fields[] (another one, read first, honours them): its page is
    asked for again with the values whole, and its state says they are not honoured there (so the next run asks
    it for them whole at once)."""
    with DaktelaSimulator(seed=19, scale="small") as sim:
        config = tap_config(sim, flatten_records=True)
        chosen = only(catalog, "accounts", "users")
        first = run_tap(tmp_path, config, catalog=chosen)
        assert first.returncode == 0, first.stderr
        assert first.final_state["bookmarks"]["users"]["instance"]["dotted"] == {"objects": True}
        sim.knobs.fail_endpoint = {"users": [400]}
        sim.reset_counters()
        rejected = run_tap(tmp_path, config, catalog=chosen, state=first.final_state)
        assert rejected.returncode == 0, rejected.stderr
        assert rejected.records("users") == first.records("users")
        assert sim.counters.by_endpoint["users"] == 2 and sim.counters.by_status[400] == 1
        assert "users: dotted fields[] were rejected" in rejected.stderr
        assert rejected.final_state["bookmarks"]["users"]["instance"]["dotted"] == {"objects": False}
        sim.reset_counters()
        again = run_tap(tmp_path, config, catalog=chosen, state=rejected.final_state)
        assert again.returncode == 0, again.stderr
        assert again.records("users") == first.records("users")
        assert sim.counters.by_endpoint["users"] == 1
        assert again.final_state["bookmarks"]["accounts"]["instance"]["dotted"] == {"objects": True}
