"""Tests of the local Daktela API simulator (real HTTP on loopback)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_daktela.endpoints import ENDPOINTS as TAP_ENDPOINTS
from tests.conftest import REPO
from tests.simulator import CF_MODELS, CF_SCHEME_MODELS, PRIMARY_KEYS, REPLICATION_KEYS, SCALES, DaktelaSimulator, Knobs
from tests.simulator import ENDPOINTS as SIM_ENDPOINTS
from tests.simulator.models import MODEL_ENDPOINTS
from tests.simulator.server import record_key

# The project's shared folder sits beside the repository (on CI too; /work/shared on a developer machine).
SAMPLES = next(
    (
        folder / "daktela-api" / "samples"
        for folder in (REPO.parent / "shared", Path("/work/shared"))
        if (folder / "daktela-api" / "samples").is_dir()
    ),
    Path("shared/daktela-api/samples"),
)
TOKEN = "static-token-0123456789"
H = {"X-AUTH-TOKEN": TOKEN}


@pytest.fixture(scope="module")
def sim() -> Iterator[DaktelaSimulator]:
    with DaktelaSimulator(seed=1, scale="small") as s:
        yield s


@pytest.fixture
def fresh() -> Iterator[DaktelaSimulator]:
    with DaktelaSimulator(seed=2, scale="small") as s:
        yield s


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def api(sim: DaktelaSimulator, path: str) -> str:
    return f"{sim.url}/api/v6/{path}"


def get(http: requests.Session, sim: DaktelaSimulator, path: str, params: Any = None, **kw: Any) -> requests.Response:
    headers = kw.pop("headers", H)
    timeout = kw.pop("timeout", 10)
    return http.get(api(sim, path), params=params, headers=headers, timeout=timeout, **kw)


def data(resp: requests.Response) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()["result"]["data"]


# ------------------------------------------------------------------------------------------------ auth
def test_login_json_form_query_and_401(sim: DaktelaSimulator, http: requests.Session) -> None:
    r = http.post(api(sim, "login.json"), json={"username": "api_user", "password": "s3cret-Pa55"}, timeout=5)
    assert r.status_code in (200, 201)
    res = r.json()["result"]
    assert set(res) >= {"accessToken", "refreshToken", "accessTokenExpirationDate"}
    tok = res["accessToken"]
    assert get(http, sim, "statuses.json", headers={"X-AUTH-TOKEN": tok}).status_code == 200

    r = http.post(
        api(sim, "login.json"), data={"username": "api_user", "password": "s3cret-Pa55", "only_token": "1"}, timeout=5
    )
    assert isinstance(r.json()["result"], str)
    r = http.post(
        api(sim, "login"), params={"username": "api_user", "password": "s3cret-Pa55", "only_token": 1}, timeout=5
    )
    assert isinstance(r.json()["result"], str)

    r = http.post(api(sim, "login.json"), data={"username": "xyz", "password": "-123"}, timeout=5)
    assert r.status_code == 401
    assert r.json()["result"] is None and r.json()["error"]

    r = http.put(api(sim, "login.json"), json={"refreshToken": res["refreshToken"]}, timeout=5)
    assert r.status_code == 200 and r.json()["result"]["accessToken"] != tok
    assert http.put(api(sim, "login.json"), json={"refreshToken": "nope"}, timeout=5).status_code == 401
    assert http.get(api(sim, "login.json"), timeout=5).status_code == 405


def test_token_transports_and_401(sim: DaktelaSimulator, http: requests.Session) -> None:
    before = sim.counters.auth_transports.copy()
    assert get(http, sim, "statuses.json").status_code == 200
    assert get(http, sim, "statuses.json", {"accessToken": TOKEN}, headers={}).status_code == 200
    assert get(http, sim, "statuses.json", headers={"Cookie": f"c_user={TOKEN}"}).status_code == 200
    after = sim.counters.auth_transports
    for t in ("header", "query", "cookie"):
        assert after[t] == before[t] + 1
    r = get(http, sim, "statuses.json", headers={})
    assert r.status_code == 401 and r.json()["error"] == ["Unauthorized"] and r.json()["result"] is None
    assert get(http, sim, "statuses.json", headers={"X-AUTH-TOKEN": "bad"}).status_code == 401


def test_whoim(sim: DaktelaSimulator, http: requests.Session) -> None:
    r = http.get(api(sim, "whoim.json"), timeout=5)
    assert r.status_code == 200
    res = r.json()["result"]
    assert res["version"] and res["user"] is None and "total" not in res
    r = get(http, sim, "whoim")
    assert r.json()["result"]["user"]["_sys"]["accessToken"] == TOKEN


# ------------------------------------------------------------------------------------------------ endpoints
# every stream the tap reads, and every endpoint the simulator serves
@pytest.mark.parametrize("ep", sorted({endpoint.name for endpoint in TAP_ENDPOINTS} | set(SIM_ENDPOINTS)))
def test_each_endpoint_list_single_404(sim: DaktelaSimulator, http: requests.Session, ep: str) -> None:
    assert ep in sim.endpoints
    r = get(http, sim, f"{ep}.json", {"take": 1000})
    body = r.json()
    assert set(body) == {"error", "result", "_serverTime", "_time", "_timezone"}
    assert body["_timezone"] == "Europe/Prague" and body["error"] == []
    rows = body["result"]["data"]
    small = {"ticketsCategories": 10, "campaignsTypes": 5, **{e: 2 for e in MODEL_ENDPOINTS}}
    assert body["result"]["total"] == len(rows) == len(sim.records(ep)) >= small.get(ep, 20)
    assert rows == sim.records(ep)
    pk = PRIMARY_KEYS[ep]
    assert len({record_key(row, pk) for row in rows}) == len(rows)
    if ep in ("tickets", "queues"):
        assert all(isinstance(row["name"], int) for row in rows)
    if ep == "activitiesCall":
        assert "name" not in rows[0]
    first = record_key(rows[0], pk)  # a session's key is its agent's name
    for path in (f"{ep}/{first}.json", f"{ep}/{first}"):
        one = get(http, sim, path).json()
        assert one["result"] == rows[0] and "total" not in one["result"]
    r = get(http, sim, f"{ep}/does-not-exist.json")
    assert r.status_code == 404 and r.json() == {**r.json(), "error": ["Object not exist"], "result": None}
    assert get(http, sim, ep).status_code == 200  # .json suffix optional


def test_unknown_endpoint_and_method(sim: DaktelaSimulator, http: requests.Session) -> None:
    r = get(http, sim, "xxx.json")
    assert r.status_code == 404 and r.json()["error"]
    assert http.delete(api(sim, "tickets.json"), headers=H, timeout=5).status_code == 405


def test_data_realism(sim: DaktelaSimulator) -> None:
    tickets = sim.records("tickets")
    users = {u["name"] for u in sim.records("users")}
    for t in tickets:
        assert t["created"] <= t["edited"]
        assert t["user"] is None or t["user"]["name"] in users
        assert t["category"]["sla"]["_sys"]["model"] == "ticketsSla"
        assert isinstance(t["customFields"], (dict, list))
    acts = sim.records("activities")
    assert any(isinstance(a["item"], dict) for a in acts)
    for a in acts:
        if isinstance(a["item"], dict) and a["item"].get("activities"):
            pytest.fail("top-level item must not embed nested activities")
    emails = sim.records("activitiesEmail")
    nested = [x for e in emails for x in e["activities"]]
    assert nested and all(isinstance(x["item"], int) for x in nested)
    # replication-key ties and the DST autumn hour, no non-existent spring hour
    for ep, rk in [("tickets", "edited"), ("activities", "time"), ("activitiesCall", "call_time")]:
        vals = [r[rk] for r in sim.records(ep)]
        assert not any(v.startswith("2024-03-31 02:") for v in vals)
    big = DaktelaSimulator(seed=1, sizes={"activities": 800, "tickets": 400})
    vals = [r["time"] for r in big.records("activities")]
    assert len(set(vals)) < len(vals)
    assert any(v.startswith("2024-10-27 02:") for v in vals)
    text = json.dumps(big.records("tickets"), ensure_ascii=False)
    for ch in ("ě", "š", "\\n", '\\"', "<p>", "😊"):
        assert ch in text


# ------------------------------------------------------------------------------------------------ filters
def names(resp: requests.Response, pk: str = "name") -> list[Any]:
    return [r[pk] for r in data(resp)]


def test_three_filter_forms(sim: DaktelaSimulator, http: requests.Session) -> None:
    recs = sim.records("tickets")
    mid = sorted(r["edited"] for r in recs)[len(recs) // 2]
    expected = sorted(r["name"] for r in recs if r["edited"] >= mid)
    single = {"filter[field]": "edited", "filter[operator]": "gte", "filter[value]": mid, "take": 1000}
    indexed = {"filter[0][field]": "edited", "filter[0][operator]": "gte", "filter[0][value]": mid, "take": 1000}
    logic = {
        "filter[logic]": "and",
        "filter[filters][0][field]": "edited",
        "filter[filters][0][operator]": "gte",
        "filter[filters][0][value]": mid,
        "take": 1000,
    }
    for params in (single, indexed, logic):
        r = get(http, sim, "tickets.json", params)
        assert sorted(names(r)) == expected
        assert r.json()["result"]["total"] == len(expected)
    # AND of two, on a bare date upper bound
    params = dict(indexed)
    params.update({"filter[1][field]": "edited", "filter[1][operator]": "lt", "filter[1][value]": "2025-01-01"})
    exp2 = sorted(r["name"] for r in recs if mid <= r["edited"] < "2025-01-01 00:00:00")
    assert sorted(names(get(http, sim, "tickets.json", params))) == exp2


def test_nested_groups_in_notin_ignorecase(sim: DaktelaSimulator, http: requests.Session) -> None:
    recs = sim.records("tickets")
    q = (
        "filter[logic]=or"
        "&filter[filters][0][field]=stage&filter[filters][0][operator]=eq&filter[filters][0][value]=open"
        "&filter[filters][0][ignoreCase]=true"
        "&filter[filters][1][logic]=and"
        "&filter[filters][1][filters][0][field]=priority&filter[filters][1][filters][0][operator]=in"
        "&filter[filters][1][filters][0][value][]=HIGH&filter[filters][1][filters][0][value][]=MEDIUM"
        "&filter[filters][1][filters][1][field]=name&filter[filters][1][filters][1][operator]=lt"
        "&filter[filters][1][filters][1][value]=9020&take=1000"
    )
    r = http.get(api(sim, "tickets.json") + "?" + q, headers=H, timeout=5)
    exp = sorted(
        t["name"] for t in recs if t["stage"] == "OPEN" or (t["priority"] in ("HIGH", "MEDIUM") and t["name"] < 9020)
    )
    assert sorted(names(r)) == exp
    r = get(
        http,
        sim,
        "tickets.json",
        {"filter[field]": "stage", "filter[operator]": "notin", "filter[value][0]": "OPEN", "take": 1000},
    )
    assert sorted(names(r)) == sorted(t["name"] for t in recs if t["stage"] != "OPEN")


@pytest.mark.parametrize(
    ("op", "value", "check"),
    [
        ("eq", "9005", lambda v: v == 9005),
        ("neq", "9005", lambda v: v != 9005),
        ("gt", "9050", lambda v: v > 9050),
        ("gte", "9050", lambda v: v >= 9050),
        ("lt", "9003", lambda v: v < 9003),
        ("lte", "9003", lambda v: v <= 9003),
        ("like", "900%", lambda v: str(v).startswith("900")),
        ("notlike", "900_", lambda v: not (len(str(v)) == 4 and str(v).startswith("900"))),
        ("begins", "901", lambda v: str(v).startswith("901")),
        ("startswith", "901", lambda v: str(v).startswith("901")),
        ("notbegins", "901", lambda v: not str(v).startswith("901")),
        ("ends", "7", lambda v: str(v).endswith("7")),
        ("endswith", "7", lambda v: str(v).endswith("7")),
        ("notends", "7", lambda v: not str(v).endswith("7")),
        ("contains", "02", lambda v: "02" in str(v)),
        ("doesnotcontain", "02", lambda v: "02" not in str(v)),
    ],
)
def test_operators_on_int_name(sim: DaktelaSimulator, http: requests.Session, op: str, value: str, check: Any) -> None:
    r = get(
        http, sim, "tickets", {"filter[field]": "name", "filter[operator]": op, "filter[value]": value, "take": 999}
    )
    assert sorted(names(r)) == sorted(t["name"] for t in sim.records("tickets") if check(t["name"]))


def test_null_dotted_and_customfields_filters(sim: DaktelaSimulator, http: requests.Session) -> None:
    recs = sim.records("tickets")
    r = get(http, sim, "tickets", {"filter[field]": "user", "filter[operator]": "isnull", "take": 1000})
    assert sorted(names(r)) == sorted(t["name"] for t in recs if t["user"] is None)
    r = get(http, sim, "tickets", {"filter[field]": "user", "filter[operator]": "isnotnull", "take": 1000})
    assert sorted(names(r)) == sorted(t["name"] for t in recs if t["user"] is not None)
    uname = next(t["user"]["name"] for t in recs if t["user"])
    r = get(http, sim, "tickets", {"filter[field]": "user.name", "filter[value]": uname, "take": 1000})
    assert sorted(names(r)) == sorted(t["name"] for t in recs if t["user"] and t["user"]["name"] == uname)
    contacts = sim.records("contacts")
    num = next(
        c["customFields"]["number"][0]
        for c in contacts
        if c["customFields"] and c["customFields"]["number"][:1] != [None] and c["customFields"]["number"]
    )
    r = get(http, sim, "contacts", {"filter[field]": "customFields.number", "filter[value]": num, "take": 1000})
    assert num in {n for row in data(r) for n in row["customFields"]["number"]}


def test_filter_errors(sim: DaktelaSimulator, http: requests.Session) -> None:
    r = get(http, sim, "tickets", {"filter[field]": "name", "filter[operator]": "bogus", "filter[value]": "1"})
    assert r.status_code == 400 and r.json()["error"] and r.json()["result"] is None
    r = get(http, sim, "tickets", {"filter[field]": "no_such_field", "filter[operator]": "eq", "filter[value]": "1"})
    assert r.status_code == 400
    assert get(http, sim, "tickets", {"sort[0][field]": "nope"}).status_code == 400


# ------------------------------------------------------------------------------------------------ sort, fields, paging
def test_sort_multi_key(sim: DaktelaSimulator, http: requests.Session) -> None:
    recs = sim.records("tickets")
    params = {"sort[0][field]": "edited", "sort[0][dir]": "asc", "sort[1][field]": "name", "sort[1][dir]": "desc"}
    r = get(http, sim, "tickets", {**params, "take": 1000})
    assert names(r) == [t["name"] for t in sorted(sorted(recs, key=lambda t: -t["name"]), key=lambda t: t["edited"])]
    r = get(http, sim, "tickets", {"sort[field]": "edited", "sort[dir]": "desc", "take": 1000})
    assert [t["edited"] for t in data(r)] == sorted((t["edited"] for t in recs), reverse=True)
    r = get(http, sim, "tickets", {"sort[0][field]": "closed", "take": 1000})
    closed = [t["closed"] for t in data(r)]
    nulls = closed.count(None)
    assert all(c is None for c in closed[:nulls]) and closed[nulls:] == sorted(closed[nulls:])


def test_fields_projection(sim: DaktelaSimulator, http: requests.Session) -> None:
    for params in (
        {"fields[0]": "name", "fields[1]": "title", "fields[2]": "user.name"},
        {"fields[]": ["name", "title", "user.name"]},
        {"fields": "name,title,user.name"},
    ):
        rows = data(get(http, sim, "tickets", {**params, "take": 1000}))
        recs = {t["name"]: t for t in sim.records("tickets")}
        for row in rows:
            assert set(row) == {"name", "title", "user"}
            exp_user = recs[row["name"]]["user"]
            assert row["user"] == (None if exp_user is None else {"name": exp_user["name"]})


def test_skip_take_total(sim: DaktelaSimulator, http: requests.Session) -> None:
    recs = sim.records("tickets")
    r = get(http, sim, "tickets", {"skip": 10, "take": 7, "sort[0][field]": "name"})
    assert names(r) == sorted(t["name"] for t in recs)[10:17]
    assert r.json()["result"]["total"] == len(recs)
    assert len(data(get(http, sim, "tickets"))) == min(100, len(recs))
    big = DaktelaSimulator(seed=3, sizes={"activities": 1200})
    with big, requests.Session() as s:
        r = s.get(api(big, "activities.json"), params={"take": 5000}, headers=H, timeout=30)
        res = r.json()["result"]
        assert len(res["data"]) == 1000 and res["total"] == 1200


# ------------------------------------------------------------------------------------------------ knobs
def test_total_as_string_and_data_as_object(fresh: DaktelaSimulator, http: requests.Session) -> None:
    fresh.knobs.total_as_string = True
    fresh.knobs.data_as_object = True
    body = get(http, fresh, "tickets", {"take": 5, "sort[0][field]": "name"}).json()
    assert body["result"]["total"] == str(len(fresh.records("tickets")))
    d = body["result"]["data"]
    assert isinstance(d, dict) and len(d) == 5
    assert all(str(v["name"]) == k for k, v in d.items())


def test_fail_rate_limit_drop(fresh: DaktelaSimulator, http: requests.Session) -> None:
    k = fresh.knobs
    k.fail_next = [503, 500]
    assert get(http, fresh, "statuses").status_code == 503
    assert get(http, fresh, "statuses").status_code == 500
    assert get(http, fresh, "statuses").status_code == 200
    k.fail_endpoint = {"tickets": [502]}
    assert get(http, fresh, "statuses").status_code == 200
    assert get(http, fresh, "tickets").status_code == 502
    assert get(http, fresh, "tickets").status_code == 200
    k.rate_limit_next = 1
    k.retry_after = 2
    r = get(http, fresh, "tickets")
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    k.drop_next = 1
    with pytest.raises(requests.ConnectionError):
        get(http, fresh, "tickets")
    assert get(http, fresh, "tickets").status_code == 200
    assert fresh.counters.by_status[503] == 1 and fresh.counters.by_status[429] == 1


def test_latency_and_slow(fresh: DaktelaSimulator, http: requests.Session) -> None:
    fresh.knobs.latency_ms = 50
    t0 = time.perf_counter()
    get(http, fresh, "statuses")
    assert time.perf_counter() - t0 >= 0.05
    fresh.knobs.latency_ms = 0
    fresh.knobs.slow_requests = 1
    fresh.knobs.slow_seconds = 0.3
    with pytest.raises(requests.Timeout):
        get(http, fresh, "statuses", timeout=0.1)
    assert get(http, fresh, "statuses").status_code == 200


def test_token_ttl_forbidden_static(fresh: DaktelaSimulator, http: requests.Session) -> None:
    fresh.knobs.token_ttl_requests = 2
    tok = http.post(api(fresh, "login"), json={"username": "api_user", "password": "s3cret-Pa55"}, timeout=5).json()
    h = {"X-AUTH-TOKEN": tok["result"]["accessToken"]}
    assert [get(http, fresh, "statuses", headers=h).status_code for _ in range(3)] == [200, 200, 401]
    assert get(http, fresh, "statuses").status_code == 200  # static token unaffected
    assert fresh.counters.logins == 1
    fresh.knobs.forbidden_endpoints = {"users"}
    r = get(http, fresh, "users")
    assert r.status_code == 403 and r.json()["error"]
    fresh.knobs.reject_static_token = True
    assert get(http, fresh, "statuses").status_code == 401


def test_reject_date_filter(fresh: DaktelaSimulator, http: requests.Session) -> None:
    fresh.knobs.reject_date_filter = {"activitiesChat"}
    r = get(
        http, fresh, "activitiesChat", {"filter[field]": "time", "filter[operator]": "gte", "filter[value]": "2024"}
    )
    assert r.status_code == 400 and "filter" in r.json()["error"]["form"]
    assert get(http, fresh, "activitiesChat").status_code == 200
    r = get(http, fresh, "activities", {"filter[field]": "time", "filter[operator]": "gte", "filter[value]": "2024"})
    assert r.status_code == 200


def test_malformed_and_bad_envelope(fresh: DaktelaSimulator, http: requests.Session) -> None:
    fresh.knobs.malformed_next = 1
    r = get(http, fresh, "tickets")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    fresh.knobs.bad_envelope_next = 1
    r = get(http, fresh, "tickets")
    assert r.status_code == 200 and "result" not in r.json()
    assert "result" in get(http, fresh, "tickets").json()


def test_mutation_helper_breaks_naive_offset_paging(fresh: DaktelaSimulator, http: requests.Session) -> None:
    before = {t["name"] for t in fresh.records("tickets")}
    fresh.knobs.mutations = [("update", "tickets", None), ("delete", "tickets", None), ("insert", "tickets", None)]
    params = {"sort[0][field]": "edited", "sort[1][field]": "name", "take": 10}
    seen: list[int] = []
    skip = 0
    while True:
        r = get(http, fresh, "tickets", {**params, "skip": skip})
        rows = data(r)
        seen.extend(t["name"] for t in rows)
        skip += len(rows)
        if skip >= r.json()["result"]["total"] or not rows:
            break
    after = {t["name"] for t in fresh.records("tickets")}
    assert fresh.knobs.mutations == []
    assert len(after) == len(before) and after != before  # one deleted, one inserted
    assert set(seen) != after  # naive offset paging misses something


def test_mutate_between_pages_callable(fresh: DaktelaSimulator, http: requests.Session) -> None:
    calls: list[tuple[str, int]] = []
    fresh.knobs.mutate_between_pages = lambda s, ep, i: calls.append((ep, i))
    get(http, fresh, "tickets")
    get(http, fresh, "tickets")
    get(http, fresh, "contacts")
    assert calls == [("tickets", 0), ("tickets", 1), ("contacts", 0)]


def test_mutation_api(fresh: DaktelaSimulator) -> None:
    n = len(fresh.records("contacts"))
    new = fresh.insert("contacts", 2)
    assert len(fresh.records("contacts")) == n + 2 and new[0]["edited"] >= "2025-07-01"
    t = fresh.records("tickets")[0]
    upd = fresh.update("tickets", t["name"])
    assert upd["edited"] > t["edited"] and upd["name"] == t["name"]
    fresh.delete("tickets", t["name"])
    assert t["name"] not in {x["name"] for x in fresh.records("tickets")}
    assert fresh.insert("tickets")[0]["name"] > max(x["name"] for x in fresh.records("tickets")[:-1])
    assert fresh.total("tickets") == len(fresh.records("tickets"))
    assert fresh.total("tickets", start="2024-06-01", end="2025-01-01") == sum(
        1 for x in fresh.records("tickets") if "2024-06-01" <= x["edited"] < "2025-01-01"
    )


def test_counters_concurrency(fresh: DaktelaSimulator) -> None:
    import concurrent.futures

    fresh.reset_counters()
    fresh.knobs.latency_ms = 100

    def one(_: int) -> int:
        with requests.Session() as s:
            return get(s, fresh, "statuses").status_code

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        assert list(ex.map(one, range(6))) == [200] * 6
    c = fresh.counters
    assert c.requests == 6 and c.pages == 6 and c.by_endpoint["statuses"] == 6 and c.peak_in_flight >= 3
    assert c.in_flight == 0 and c.bytes_sent > 0


# ------------------------------------------------------------------------------------------------ shapes vs samples
def _load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8-sig"))


def _jtype(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def _compatible(sample: Any, ours: Any) -> bool:
    if sample is None or ours is None:
        return True
    if isinstance(sample, (dict, list)) and isinstance(ours, (dict, list)) and (not sample or not ours):
        return True  # PHP empty array [] vs {}
    return _jtype(sample) == _jtype(ours)


@pytest.mark.skipif(not SAMPLES.exists(), reason="samples not available")
@pytest.mark.parametrize(
    ("sample", "ep"),
    [
        ("tickets-response.json", "tickets"),
        ("contacts-2.json", "contacts"),
        ("ticket-activities-read.json", "activities"),
        ("ticket-email-activities-read-2.json", "activitiesEmail"),
        ("ticket-email-activities-read.json", "activitiesEmail"),
    ],
)
def test_shapes_match_real_samples(sim: DaktelaSimulator, http: requests.Session, sample: str, ep: str) -> None:
    real = _load(sample)
    body = get(http, sim, ep).json()
    assert set(body) >= set(real)
    assert set(body["result"]) == set(real["result"])
    real_rec = real["result"]["data"][0]
    ours = body["result"]["data"]
    keys = set().union(*(r.keys() for r in ours))
    assert keys >= set(real_rec) - {"attachments", "files"} or ep == "activitiesEmail"
    assert keys >= set(real_rec) - {"attachments"}
    for k, v in real_rec.items():
        if k in ("attachments",):
            continue
        assert any(_compatible(v, r.get(k)) for r in ours), k
    if ep == "activities":
        assert any(isinstance(r["item"], dict) for r in ours)


@pytest.mark.skipif(not SAMPLES.exists(), reason="samples not available")
def test_single_ticket_and_crm_record_shape(sim: DaktelaSimulator, http: requests.Session) -> None:
    real = _load("simple-ticket-response.json")["result"]
    t = get(http, sim, f"tickets/{sim.records('tickets')[0]['name']}.json").json()["result"]
    assert set(t) >= set(real) - {"_access"}
    crm = _load("crm-record-2026.json")["result"]
    ours = get(http, sim, "crmRecords").json()["result"]["data"][0]
    assert set(ours) >= set(crm) - {"_rdata", "_guiData"} or set(ours) >= set(crm)


# ------------------------------------------------------------------------------------------------ throughput
def test_throughput_pages_per_second() -> None:
    with DaktelaSimulator(seed=1, sizes={"activities": 5000}) as s, requests.Session() as http:
        params = {"sort[0][field]": "time", "sort[1][field]": "name", "take": 1000}
        t0 = time.perf_counter()
        n_pages = 0
        nbytes = 0
        for i in range(50):
            r = http.get(api(s, "activities.json"), params={**params, "skip": (i % 5) * 1000}, headers=H, timeout=30)
            assert r.status_code == 200
            nbytes += len(r.content)
            n_pages += 1
        dt = time.perf_counter() - t0
        print(f"\nsimulator: {n_pages / dt:.1f} pages/s of 1000 activities, {nbytes / dt / 1e6:.0f} MB/s")
        # filtered window on the sort key: bisect path
        t0 = time.perf_counter()
        for _ in range(20):
            s.run_query(
                "activities",
                {
                    "filter": {"0": {"field": "time", "operator": "gte", "value": "2024-06-01"}},
                    "sort": {"0": {"field": "time"}},
                    "take": "1000",
                },
            )
        print(f"simulator: range query on sort key {(time.perf_counter() - t0) / 20 * 1000:.2f} ms")


def test_indexed_range_paths_match_linear(sim: DaktelaSimulator, http: requests.Session) -> None:
    """Filters on the sort key use the bisect path; results must equal a plain Python evaluation."""
    recs = sim.records("tickets")
    edits = sorted({r["edited"] for r in recs})
    lo, hi = edits[len(edits) // 4], edits[3 * len(edits) // 4]
    for d in ("asc", "desc"):
        for op_lo, op_hi in (("gte", "lt"), ("gt", "lte")):
            params = {
                "filter[0][field]": "edited",
                "filter[0][operator]": op_lo,
                "filter[0][value]": lo,
                "filter[1][field]": "edited",
                "filter[1][operator]": op_hi,
                "filter[1][value]": hi,
                "filter[2][field]": "stage",
                "filter[2][operator]": "neq",
                "filter[2][value]": "ARCHIVE",
                "sort[0][field]": "edited",
                "sort[0][dir]": d,
                "sort[1][field]": "name",
                "sort[1][dir]": d,
                "take": 1000,
            }
            cmp = {"gte": str.__ge__, "gt": str.__gt__, "lt": str.__lt__, "lte": str.__le__}
            exp = [
                r
                for r in recs
                if cmp[op_lo](r["edited"], lo) and cmp[op_hi](r["edited"], hi) and r["stage"] != "ARCHIVE"
            ]
            exp.sort(key=lambda r: (r["edited"], r["name"]), reverse=d == "desc")
            r = get(http, sim, "tickets", params)
            assert names(r) == [x["name"] for x in exp]
            assert r.json()["result"]["total"] == len(exp)
    r = get(http, sim, "tickets", {"filter[field]": "user.name", "filter[value]": "administrator", "take": 1000})
    assert sorted(names(r)) == sorted(t["name"] for t in recs if t["user"] and t["user"]["name"] == "administrator")


@pytest.mark.parametrize(
    ("op", "value", "ic", "check"),
    [
        ("contains", "Re:", "", lambda v: "Re:" in v),
        ("contains", "re:", "true", lambda v: "re:" in v.lower()),
        ("doesnotcontain", "Re:", "", lambda v: "Re:" not in v),
        ("like", "%objednávk%", "", lambda v: "objednávk" in v),
        ("like", "%OBJEDNÁVK%", "true", lambda v: "objednávk" in v.lower()),
        ("notlike", "R_:%", "", lambda v: not (len(v) >= 3 and v[0] == "R" and v[2] == ":")),
        ("begins", "Re", "", lambda v: v.startswith("Re")),
        ("notends", "🚚", "", lambda v: not v.endswith("🚚")),
        ("eq", 'Zákazník říká: "nefunguje to"', "", lambda v: v == 'Zákazník říká: "nefunguje to"'),
    ],
)
def test_string_operators(
    sim: DaktelaSimulator, http: requests.Session, op: str, value: str, ic: str, check: Any
) -> None:
    params = {"filter[field]": "title", "filter[operator]": op, "filter[value]": value, "take": 1000}
    if ic:
        params["filter[ignoreCase]"] = ic
    r = get(http, sim, "tickets", params)
    exp = sorted(t["name"] for t in sim.records("tickets") if check(t["title"]))
    assert sorted(names(r)) == exp and exp


def test_cli_prints_url_and_credentials() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.simulator", "--port", "0", "--scale", "small"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split("listening on ", 1)[1].split()[0]
        assert "api_user" in proc.stdout.readline() and "static-token" in proc.stdout.readline()
        with requests.Session() as s:
            assert s.get(url + "/api/v6/whoim.json", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


# ------------------------------------------------------------------------------------------------ custom fields
def _all(http: requests.Session, sim: DaktelaSimulator, ep: str, params: dict[str, Any] | None = None) -> list[dict]:
    return data(get(http, sim, ep, {"take": 1000, **(params or {})}))


def test_custom_field_schemes_and_values(sim: DaktelaSimulator, http: requests.Session) -> None:
    types: set[str] = set()
    multiples: set[bool] = set()
    values: list[Any] = []
    for ep in CF_MODELS:
        scheme = sim.custom_fields(ep)
        assert scheme == DaktelaSimulator(seed=1, scale="small").custom_fields(ep)  # deterministic from the seed
        for spec in scheme.values():
            assert {"type", "title", "hidden", "readonly", "multiple", "items"} <= set(spec)
            types.add(spec["type"])
            multiples.add(spec["multiple"])
            if spec["type"] == "SELECTBOX":
                assert spec["items"] and all(set(it) == {"name", "title", "value"} for it in spec["items"])
        for rec in _all(http, sim, ep):
            cf = rec["customFields"]
            assert cf == [] or (isinstance(cf, dict) and cf and set(cf) <= set(scheme))
            for vs in (cf or {}).values():
                assert isinstance(vs, list) and all(v is None or isinstance(v, str) for v in vs)
                values.append(vs)
            if ep in CF_SCHEME_MODELS:
                assert rec["_sys"]["cfScheme"] == scheme
            else:
                assert "cfScheme" not in rec["_sys"]
    contacts = sim.custom_fields("contacts")
    assert contacts["number"]["type"] == "PHONE" and contacts["number"]["multiple"] is True
    assert contacts["email"]["type"] == "EMAIL" and contacts["email"]["multiple"] is True
    assert {"TEXT", "PHONE", "EMAIL", "DATE", "SELECTBOX", "TEXTAREA"} <= types and multiples == {True, False}
    assert [] in values and [None] in values and any(len(v) > 1 for v in values)
    # crmRecords of different types lack different fields
    keysets = {frozenset(r["customFields"]) for r in sim.records("crmRecords") if r["customFields"]}
    assert len(keysets) > 1
    # nested objects carry their model's scheme too
    ticket = next(t for t in sim.records("tickets") if t["contact"])
    assert ticket["contact"]["_sys"]["cfScheme"] == contacts


def test_model_without_custom_fields_sends_php_empty_array(fresh: DaktelaSimulator) -> None:
    assert fresh.seed % 2 == 0 and fresh.custom_fields("activities") == {}  # even seeds: activities have none
    assert all(a["customFields"] == [] for a in fresh.records("activities"))
    assert fresh.custom_fields("users") == {}


def test_add_custom_field_appears_on_existing_and_new_records(fresh: DaktelaSimulator, http: requests.Session) -> None:
    spec = fresh.add_custom_field("contacts", "vip_level", multiple=False, type="SELECTBOX")
    assert fresh.custom_fields("contacts")["vip_level"] == spec and spec["items"]
    fresh.add_custom_field("contacts", "hobbies", multiple=True)
    fresh.add_custom_field("activities", "sentiment")  # a model that had none
    rows = _all(http, fresh, "contacts")
    assert all({"vip_level", "hobbies"} <= set(r["customFields"]) for r in rows)
    assert all(r["_sys"]["cfScheme"]["vip_level"]["multiple"] is False for r in rows)
    filled = [r["customFields"]["vip_level"][0] for r in rows if r["customFields"]["vip_level"][:1] not in ([], [None])]
    assert filled and set(filled) <= {it["value"] for it in spec["items"]}
    got = _all(http, fresh, "contacts", {"filter[field]": "customFields.vip_level", "filter[value]": filled[0]})
    assert got and all(filled[0] in r["customFields"]["vip_level"] for r in got)
    new = fresh.insert("contacts")[0]
    assert "vip_level" in new["customFields"] and "vip_level" in new["_sys"]["cfScheme"]
    acts = fresh.records("activities")
    assert all(set(a["customFields"]) == {"sentiment"} for a in acts)
    assert "cfScheme" not in acts[0]["_sys"]
    fresh.reset_knobs()
    assert "vip_level" not in fresh.custom_fields("contacts") and fresh.custom_fields("activities") == {}
    rows = _all(http, fresh, "contacts")
    assert not any("vip_level" in (r["customFields"] or {}) for r in rows)
    assert all("vip_level" not in r["_sys"]["cfScheme"] for r in rows)
    assert all(a["customFields"] == [] for a in fresh.records("activities"))
    with pytest.raises(ValueError, match="no custom fields"):
        fresh.add_custom_field("users", "x")


# --------------------------------------------------------------------------------------------- list-only fields, extras
def test_is_followed_and_attachments(sim: DaktelaSimulator, http: requests.Session) -> None:
    tickets = _all(http, sim, "tickets")
    assert {t["isFollowed"] for t in tickets} == {True, False}
    acts = _all(http, sim, "activities")
    assert all(isinstance(a["attachments"], list) for a in acts)
    with_files = [x for a in acts for x in a["attachments"]]
    assert with_files and sum(1 for a in acts if not a["attachments"]) > len(acts) // 2
    real = _load("read-activity-attachment.json")["result"]["data"][0] if SAMPLES.exists() else with_files[0]
    assert all(set(x) == set(real) for x in with_files)
    assert with_files[0]["_sys"]["model"] == "activities\\Attachments"
    nested = [x for e in sim.records("activitiesSms") for x in e["activities"]]
    assert nested and all("attachments" not in x for x in nested)


def test_extra_fields_knob(fresh: DaktelaSimulator, http: requests.Session) -> None:
    extra = {"newInt": 5, "newStr": "žluťoučký 🐴", "newBool": True, "newObj": {"a": [1, None], "b": {}}}
    fresh.knobs.extra_fields = {"tickets": extra, "users": {"title": "Přepsáno"}}
    rows = _all(http, fresh, "tickets")
    assert rows and all(r | extra == r for r in rows)
    assert fresh.records("tickets") == rows
    one = get(http, fresh, f"tickets/{rows[0]['name']}").json()["result"]
    assert one == rows[0]
    assert data(get(http, fresh, "tickets", {"fields": "name,newInt", "take": 2})) == [
        {"name": r["name"], "newInt": 5} for r in rows[:2]
    ]
    r = get(http, fresh, "users", {"take": 3})
    assert r.text.count('"title":"Přepsáno"') == 3 and r.text.count('"Přepsáno"') == 3  # replaced, not duplicated
    assert all("newInt" not in c for c in _all(http, fresh, "contacts"))
    fresh.knobs.extra_fields = {}
    assert "newInt" not in _all(http, fresh, "tickets")[0]


# ------------------------------------------------------------------------------------------------ new endpoints
NEW_CHANNELS = {
    "activitiesSms": "SMS",
    "activitiesFbm": "FBM",
    "activitiesIgdm": "IGDM",
    "activitiesWap": "WAP",
    "activitiesVbr": "VBR",
    "activitiesWeb": "WEB",
}


def _schema_props(name: str) -> set[str]:
    spec = json.loads((SAMPLES.parent / "openapi.json").read_text())
    return set(spec["components"]["schemas"][name]["properties"])


def test_new_endpoints_counts_keys_and_scales(sim: DaktelaSimulator) -> None:
    assert len(sim.endpoints) == 35 and "activitiesChat" in sim.endpoints
    for ep in [*NEW_CHANNELS, "ticketsCategories", "campaignsTypes"]:
        assert PRIMARY_KEYS[ep] == "name"
        assert REPLICATION_KEYS[ep] == (None if ep in ("ticketsCategories", "campaignsTypes") else "time")
    for ep in NEW_CHANNELS:
        assert len(sim.records(ep)) == SCALES["small"][ep] == 20
        assert (SCALES["demo"][ep], SCALES["bench"][ep], SCALES["bench10"][ep]) == (200, 2000, 20000)
    for scale in ("small", "demo", "bench", "bench10"):
        assert 10 <= SCALES[scale]["ticketsCategories"] <= 30 and 5 <= SCALES[scale]["campaignsTypes"] <= 10
    demo = DaktelaSimulator(seed=4, scale="demo")
    assert {ep: len(demo.records(ep)) for ep in NEW_CHANNELS} == dict.fromkeys(NEW_CHANNELS, 200)
    assert len(demo.records("ticketsCategories")) == 20 and len(demo.records("campaignsTypes")) == 8


@pytest.mark.skipif(not SAMPLES.exists(), reason="openapi.json not available")
def test_new_endpoints_follow_openapi_schemas(sim: DaktelaSimulator) -> None:
    base = "Daktela.Corm."
    schemas = {
        "activitiesSms": "Activities.SMS.SMSItem-2",
        "activitiesFbm": "Activities.FBM.FBMItem-2",
        "activitiesIgdm": "Activities.IGDM.IGDMItem-2",
        "activitiesWap": "Activities.WAP.WAPItem-2",
        "activitiesVbr": "Activities.VBR.VBRItem-2",
        "activitiesWeb": "Activities.Web.WebItem-2",
        "ticketsCategories": "Tickets.Category-2",
        "campaignsTypes": "Campaigns.Type-2",
    }
    # Fields real responses carry that the OpenAPI document lacks (the official docs list the web-chat ones).
    web = "host gdpr language privateMode routing_duration hasFocus customFields users customer referer isVisible"
    OBSERVED = {
        "activitiesWeb": {*web.split(), "ipaddress", "mobileDevice", "browser", "heartbeat", "refererLast"},
        "campaignsTypes": {"icon", "color"},
    }
    for ep, schema in schemas.items():
        props = _schema_props(base + schema)
        recs = sim.records(ep)
        for rec in recs:
            assert props <= set(rec), (ep, props - set(rec))
            assert set(rec) - props <= {"_sys", "_rdata", "_guiData", "activities"} | OBSERVED.get(ep, set()), ep
            assert rec["_sys"]["model"] == ep and rec["_rdata"] is None and rec["_guiData"] == []
        if ep in NEW_CHANNELS:
            assert any(r["user"] and r["user"]["role"]["_sys"]["model"] == "roles" for r in recs)
            assert all(r["connector"] is None or r["connector"]["_guiData"] == [] for r in recs)
            assert any(r["contact"] and "cfScheme" in r["contact"]["_sys"] for r in recs)
            assert any(r["activities"] for r in recs)
            if "external_contact" in props:
                ext = [r["external_contact"] for r in recs if r["external_contact"]]
                assert ext and all(_schema_props(base + schema.replace(schema.split(".")[-1], "Contact-2")) <= set(x)
                                   for x in ext)  # fmt: skip
            if "direction" in props:
                assert {r["direction"] for r in recs} <= {"", "IN", "OUT"}
    text = json.dumps(sim.records("activitiesWeb") + sim.records("activitiesSms"), ensure_ascii=False)
    assert "ř" in text and any(ch in text for ch in "📦👍🚚🧾🐴🙏🕐😞")


@pytest.mark.parametrize("ep", list(NEW_CHANNELS))
def test_new_channel_filters_sort_paging(sim: DaktelaSimulator, http: requests.Session, ep: str) -> None:
    recs = sim.records(ep)
    times = sorted(r["time"] for r in recs)
    mid = times[len(times) // 2]
    params = {"filter[0][field]": "time", "filter[0][operator]": "gte", "filter[0][value]": mid}
    params |= {"sort[0][field]": "time", "sort[0][dir]": "desc", "sort[1][field]": "name", "sort[1][dir]": "desc"}
    exp = sorted((r for r in recs if r["time"] >= mid), key=lambda r: (r["time"], r["name"]), reverse=True)
    got = [r for skip in range(0, 40, 3) for r in data(get(http, sim, ep, {**params, "skip": skip, "take": 3}))]
    assert [r["name"] for r in got] == [r["name"] for r in exp]
    r = get(http, sim, ep, {"filter[field]": "queue.name", "filter[value]": str(recs[0]["queue"]["name"])})
    assert {x["name"] for x in data(r)} == {x["name"] for x in recs if x["queue"]["name"] == recs[0]["queue"]["name"]}
    assert data(get(http, sim, ep, {"fields": "name,time", "take": 1})) == [
        {"name": recs[0]["name"], "time": recs[0]["time"]}
    ]
    r = get(http, sim, f"{ep}/{recs[0]['name']}.json")
    assert r.json()["result"] == recs[0]


def test_reference_endpoints_filters_sort(sim: DaktelaSimulator, http: requests.Session) -> None:
    cats = sim.records("ticketsCategories")
    r = get(http, sim, "ticketsCategories", {"sort": "-title", "filter[field]": "title", "filter[operator]": "like",
                                              "filter[value]": "%Reklamace%"})  # fmt: skip
    exp = sorted((c for c in cats if "Reklamace" in c["title"]), key=lambda c: c["title"], reverse=True)
    assert names(r) == [c["name"] for c in exp] and exp
    types = sim.records("campaignsTypes")
    r = get(http, sim, "campaignsTypes", {"filter[field]": "custom", "filter[value]": "false", "skip": 1, "take": 2})
    assert r.json()["result"]["total"] == sum(1 for t in types if not t["custom"])


def test_activities_link_channel_items(sim: DaktelaSimulator, http: requests.Session) -> None:
    for ep, typ in NEW_CHANNELS.items():
        items = {r["name"]: r for r in sim.records(ep)}
        acts = _all(http, sim, "activities", {"filter[field]": "type", "filter[value]": typ})
        assert acts, typ
        for a in acts:
            item = a["item"]
            assert isinstance(item, dict) and "activities" not in item
            full = items[item["name"]]
            assert item == {k: v for k, v in full.items() if k != "activities"}
            assert [n["name"] for n in full["activities"]] == [a["name"]]
            assert isinstance(full["activities"][0]["item"], int)
        queue_types = {a["queue"]["type"] for a in acts if a["queue"]}
        assert queue_types == {"chat" if typ == "WEB" else typ.lower()}


def test_categories_and_campaign_types_are_the_listed_records(sim: DaktelaSimulator) -> None:
    cats = {c["name"]: c for c in sim.records("ticketsCategories")}
    used = {t["category"]["name"]: t["category"] for t in sim.records("tickets")}
    assert used and set(used) <= set(cats) and len(used) > 3
    assert all(c == cats[n] for n, c in used.items())  # the same record, nested objects and all
    types = {t["name"]: t for t in sim.records("campaignsTypes")}
    recs = sim.records("campaignsRecords")
    assert {r["record_type"]["name"] for r in recs} <= set(types)
    assert all(r["record_type"] == types[r["record_type"]["name"]] for r in recs)
    assert all(r["database"]["record_type"] == r["record_type"] for r in recs)


def test_missing_endpoints_404(fresh: DaktelaSimulator, http: requests.Session) -> None:
    fresh.knobs.missing_endpoints = {"activitiesWap", "ticketsCategories"}
    name = fresh.records("activitiesWap")[0]["name"]
    for path in ("activitiesWap.json", f"activitiesWap/{name}.json", "ticketsCategories"):
        r = get(http, fresh, path)
        assert r.status_code == 404
        body = r.json()
        assert body["error"] == ["Object not exist"] and body["result"] is None and "_time" in body
    assert get(http, fresh, "activitiesSms").status_code == 200
    fresh.knobs.missing_endpoints = set()
    assert get(http, fresh, "activitiesWap").status_code == 200


# ------------------------------------------------------------------------------------------------ dotted fields
def test_dotted_fields_modes(fresh: DaktelaSimulator, http: requests.Session) -> None:
    tickets = {t["name"]: t for t in fresh.records("tickets")}
    params = {"fields[0]": "name", "fields[1]": "user.name", "fields[2]": "statuses.name", "take": 1000}
    assert fresh.knobs.dotted_fields == "honour"
    for row in data(get(http, fresh, "tickets", params)):
        t = tickets[row["name"]]
        assert row == {
            "name": t["name"],
            "user": None if t["user"] is None else {"name": t["user"]["name"]},
            "statuses": [{"name": s["name"]} for s in t["statuses"]],
        }
    acts = {a["name"]: a for a in fresh.records("activities")}
    rows = data(get(http, fresh, "activities", {"fields": "name,item.name,item.id_call,type", "take": 1000}))
    seen = set()
    for row in rows:
        item = acts[row["name"]]["item"]
        assert row["item"] == (None if item is None else {"name": item.get("name"), "id_call": item.get("id_call")})
        if item:
            seen.add(row["type"])
            assert row["item"]["id_call" if row["type"] == "CALL" else "name"] is not None
    assert {"CALL", "EMAIL", "SMS", "WEB"} <= seen

    fresh.knobs.dotted_fields = "ignore"
    rows = data(get(http, fresh, "tickets", params))
    assert all(set(r) == {"name"} for r in rows)
    rows = data(get(http, fresh, "tickets", {**params, "fields[3]": "user"}))
    assert all(set(r) == {"name", "user"} and r["user"] == tickets[r["name"]]["user"] for r in rows)

    fresh.knobs.dotted_fields = "whole"
    rows = data(get(http, fresh, "tickets", params))
    for r in rows:
        assert r == {k: tickets[r["name"]][k] for k in ("name", "user", "statuses")}
    rows = data(get(http, fresh, "activities", {"fields": "name,item.name", "take": 1000}))
    with_item = [r for r in rows if r["item"]]
    assert with_item and all(r["item"] == acts[r["name"]]["item"] for r in with_item)
    assert all("activities" not in r["item"] and "_sys" not in r for r in with_item)


# ------------------------------------------------------------------------------------------------ knob reset
def test_reset_knobs_restores_every_default(fresh: DaktelaSimulator) -> None:
    k = fresh.knobs
    k.latency_ms, k.fail_next, k.forbidden_endpoints, k.dotted_fields = 5, [500], {"users"}, "whole"
    k.extra_fields, k.missing_endpoints, k.max_take, k.mutations = {"users": {"x": 1}}, {"groups"}, 7, [("x", "y", 1)]
    fresh.add_custom_field("tickets", "added_later")
    fresh.reset_knobs()
    assert fresh.knobs is k and k == Knobs()
    assert "added_later" not in fresh.custom_fields("tickets")
    assert "x" not in fresh.records("users")[0]


def test_autouse_reset_part_1_leaves_knobs_set(sim: DaktelaSimulator, http: requests.Session) -> None:
    sim.knobs.total_as_string = True
    sim.knobs.extra_fields = {"statuses": {"leak": 1}}
    sim.add_custom_field("accounts", "leaked_field")
    assert get(http, sim, "statuses").status_code == 200


def test_autouse_reset_part_2_sees_defaults(sim: DaktelaSimulator) -> None:
    assert sim.knobs == Knobs() and sim.counters.requests == 0
    assert "leaked_field" not in sim.custom_fields("accounts")
    assert "leak" not in sim.records("statuses")[0]


# ------------------------------------------------------------------------------------------------ HTTPS
def test_https_with_trusting_and_untrusting_clients(tmp_path: Path) -> None:
    pytest.importorskip("trustme")
    from tests.simulator.tls import server_context

    ca = tmp_path / "ca.pem"
    with DaktelaSimulator(seed=1, scale="small", tls=server_context(ca)) as s:
        assert s.url.startswith("https://127.0.0.1:") and ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        with requests.Session() as untrusted, pytest.raises(requests.exceptions.SSLError):
            untrusted.get(api(s, "whoim.json"), timeout=5)
        with requests.Session() as plain, pytest.raises(requests.exceptions.ConnectionError):
            plain.get(api(s, "whoim.json").replace("https://", "http://"), timeout=5)
        with requests.Session() as trusted:
            for _ in range(3):  # the server survived the failed handshakes; keep-alive over TLS works
                r = trusted.get(api(s, "tickets.json"), params={"take": 5}, headers=H, verify=str(ca), timeout=5)
                assert r.status_code == 200 and len(r.json()["result"]["data"]) == 5
            r = trusted.get(api(s, "whoim.json").replace("127.0.0.1", "localhost"), verify=str(ca), timeout=5)
            assert r.status_code == 200
        assert s.counters.by_status[200] == 4


def test_knobs_apply_to_new_endpoints(fresh: DaktelaSimulator, http: requests.Session) -> None:
    k = fresh.knobs
    k.forbidden_endpoints = {"activitiesSms"}
    assert get(http, fresh, "activitiesSms").status_code == 403
    k.reject_date_filter = {"activitiesWeb"}
    r = get(http, fresh, "activitiesWeb", {"filter[field]": "time", "filter[operator]": "gte", "filter[value]": "2024"})
    assert r.status_code == 400 and "form" in r.json()["error"]
    k.fail_endpoint = {"ticketsCategories": [503]}
    assert get(http, fresh, "ticketsCategories").status_code == 503
    n = len(fresh.records("campaignsTypes"))
    k.mutations = [("insert", "campaignsTypes", None), ("delete", "activitiesFbm", None)]
    assert get(http, fresh, "campaignsTypes").json()["result"]["total"] == n
    assert get(http, fresh, "campaignsTypes").json()["result"]["total"] == n + 1
    first = data(get(http, fresh, "activitiesFbm", {"sort": "time"}))[0]["name"]
    second = data(get(http, fresh, "activitiesFbm", {"sort": "time"}))[0]["name"]
    assert first != second and first not in {r["name"] for r in fresh.records("activitiesFbm")}
    assert fresh.counters.list_requests["activitiesFbm"] == 2
