"""The simulator's models of issue 18 (tests/simulator/models.py): shaped like their OpenAPI read schemas, and the
records that embed them embed exactly those records (so the tap's keys can join)."""

from __future__ import annotations

import json

import pytest

from scripts.generate_schemas import DOCUMENTED_COMPONENTS, PREFIX, SCHEMA_REFS
from tests.conftest import REPO
from tests.simulator import SCALES, DaktelaSimulator
from tests.simulator.models import MODEL_ENDPOINTS

OPENAPI = REPO.parent / "shared" / "daktela-api" / "openapi.json"
INTERNALS = {"_sys", "_rdata", "_guiData"}
OBSERVED = {"crmDatabases": {"contactsCFScheme"}, "timegroups": {"crons", "groups"}}


@pytest.fixture(scope="module")
def sim():
    return DaktelaSimulator(seed=2, scale="small")  # data only: never started


def names(records) -> set:
    return {record["name"] for record in records}


@pytest.mark.skipif(not OPENAPI.exists(), reason="openapi.json not available")
@pytest.mark.parametrize("stream", MODEL_ENDPOINTS)
def test_records_carry_the_read_schema_fields(sim, stream):
    components = json.loads(OPENAPI.read_text())["components"]["schemas"] | DOCUMENTED_COMPONENTS
    component = components[PREFIX + SCHEMA_REFS[stream]]
    declared = set(component["properties"]) | OBSERVED.get(stream, set())
    for record in sim.records(stream):
        assert set(record) - INTERNALS == declared, (stream, set(record) ^ declared)
        assert set(component.get("required", [])) <= set(record)
        assert record["_sys"]["model"] == stream  # `_sys.model` names the endpoint


def test_every_scale_has_every_model():
    for scale, sizes in SCALES.items():
        assert all(sizes[stream] > 0 for stream in MODEL_ENDPOINTS), scale


def test_embedded_records_are_records_of_the_new_tables(sim):
    def embedded(stream: str, prop: str) -> list[dict]:
        return [record[prop] for record in sim.records(stream) if record.get(prop)]

    pairs = [
        ("ticketsCategories", "sla", "ticketsSla"),
        ("accounts", "sla", "ticketsSla"),
        ("accounts", "database", "crmDatabases"),
        ("contacts", "database", "crmDatabases"),
        ("ticketsCategories", "default_crm_database", "crmDatabases"),
        ("ticketsCategories", "timecondition", "timegroups"),
        ("campaignsRecords", "database", "databases"),
        ("crmRecords", "type", "crmRecordsTypes"),
        ("users", "role", "roles"),
        ("users", "profile", "profiles"),
        ("articles", "folder", "articlesFolders"),
        ("articlesFolders", "parent", "articlesFolders"),
    ]
    for stream, prop, target in pairs:
        found = embedded(stream, prop)
        assert found, (stream, prop)
        served = {record["name"]: record for record in sim.records(target)}
        for value in found:
            assert value == served[value["name"]], (stream, prop, value["name"])  # the same record, whole
    tags = names(sim.records("articlesTags"))
    assert {tag["name"] for article in sim.records("articles") for tag in article["tags"]} <= tags
    users = names(sim.records("users"))
    assert {user["name"] for article in sim.records("articles") for user in article["bookmarks"]} <= users


def test_sessions_are_logged_in_agents_and_transcripts_belong_to_answered_calls(sim):
    sessions = sim.records("realtimeSessions")
    agents = [session["id_agent"]["name"] for session in sessions]
    assert len(agents) == len(set(agents)) == SCALES["small"]["realtimeSessions"]
    users = {user["name"]: user for user in sim.records("users")}
    assert all(not users[agent]["deactivated"] for agent in agents)
    for session in sessions:
        assert (session["state"] == "Paused") == (session["id_pause"] is not None) == (session["onpause"] is not None)
    calls = {
        activity["name"]: activity["item"]
        for activity in sim.records("activities")
        if activity["type"] == "CALL" and activity["item"]
    }
    transcripts = sim.records("activitiesCallTranscripts")
    assert len(transcripts) == SCALES["small"]["activitiesCallTranscripts"]
    for segment in transcripts:
        call = calls[segment["activity"]["name"]]
        assert call["answered"] and call["call_time"] <= segment["start"] <= segment["end"]
        assert segment["type"] in ("operator", "customer") and segment["text"]
