"""Host the Daktela simulator in its own process for the benchmark, with its counters readable over stdin/stdout.

``python -m scripts.bench_sim --scale bench [--seed 1] [--latency-ms 0] [--crm-record-kb 197]`` prints one JSON
line ``{"url", "token", "totals", "record_kb"}`` once listening, then answers one JSON line per command read from
stdin:

- ``counters``: requests, pages, bytes_sent, peak_in_flight, logins since the last reset;
- ``reset``: zero the counters;
- ``latency <ms>``: set the simulated latency per request;
- ``mutate``: the few changes a nightly run finds (records inserted into and updated in a handful of endpoints,
  through the simulator's own `insert`/`update`); replies ``{"changed": {endpoint: [key, ...]}, "totals"}``.

EOF on stdin stops the server.

Real-size payloads: a real `crmRecords` record is 310 KB as saved in `samples/crm-record-2026.json`, which is
tab-indented; as compact JSON, the way the API sends it, it is 197 KB, most of it custom-field schemes
(`_sys.cfScheme`) with long option lists. The simulator's own crmRecords are ~17 KB, so unless
``--crm-record-kb 0``, crmRecords get one more custom field, a select box whose options bring the average record
served without ``fields[]`` to that size (through the simulator's public ``add_custom_field``; its data module is
not touched). Activities are already real-size (~24 KB in the sample with their embedded records; the simulator's
are about that). ``record_kb`` in the first line reports the average served size of both, as measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from typing import Any

from tests.simulator import DaktelaSimulator
from tests.simulator.data import SCALES

REAL_CRM_RECORD_KB = 197  # samples/crm-record-2026.json as compact JSON (196,542 bytes)
CRM_FIELD = "katalog_modelu"
SIZE_SAMPLE = 100  # records per size measurement
# the nightly run's changes: (endpoint, records inserted, records updated)
MUTATIONS = (("tickets", 1, 2), ("contacts", 2, 1), ("crmRecords", 0, 1), ("activities", 3, 0))


def counters(sim: DaktelaSimulator) -> dict[str, int]:
    c = sim.counters
    return {
        "requests": c.requests,
        "pages": c.pages,
        "bytes_sent": c.bytes_sent,
        "peak_in_flight": c.peak_in_flight,
        "logins": c.logins,
    }


def _list(sim: DaktelaSimulator, endpoint: str, take: int) -> tuple[list[dict[str, Any]], int]:
    """The first `take` records of a list request without `fields[]` and the response's size in bytes."""
    request = urllib.request.Request(
        f"{sim.url}/api/v6/{endpoint}.json?skip=0&take={take}", headers={"X-AUTH-TOKEN": sim.static_token}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    return json.loads(body)["result"]["data"], len(body)


def served_kb(sim: DaktelaSimulator, endpoint: str) -> float:
    """Average size in KB (1000 bytes) of a record as a list request serves it without `fields[]`."""
    data, size = _list(sim, endpoint, SIZE_SAMPLE)
    return size / max(1, len(data)) / 1000


def grow_crm_records(sim: DaktelaSimulator, target_kb: float) -> None:
    """Add a select-box custom field to crmRecords with enough options that the average record is `target_kb`."""
    missing = target_kb - served_kb(sim, "crmRecords")
    if missing <= 0:
        return
    label = "Model 00000"
    option = {"name": "option_" + "0" * 23, "title": label, "value": label}  # the simulator's option shape
    per_option = len(json.dumps(option, separators=(",", ":"))) + 1
    count = int(missing * 1000 / per_option)
    options = [f"Model {i:05d}" for i in range(count)]
    sim.add_custom_field("crmRecords", CRM_FIELD, type="SELECTBOX", title="Katalog modelů", items=options)


def mutate(sim: DaktelaSimulator) -> dict[str, list[Any]]:
    """Insert and update a few records (`MUTATIONS`); return the keys changed per endpoint."""
    changed: dict[str, list[Any]] = {}
    for endpoint, inserted, updated in MUTATIONS:
        pk = "id_call" if endpoint == "activitiesCall" else "name"
        keys = [record[pk] for record in sim.insert(endpoint, n=inserted)] if inserted else []
        if updated:
            existing, _ = _list(sim, endpoint, updated)
            keys += [sim.update(endpoint, record[pk])[pk] for record in existing]
        changed[endpoint] = keys
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench_sim")
    p.add_argument("--scale", choices=sorted(SCALES), default="bench")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument(
        "--crm-record-kb",
        type=float,
        default=REAL_CRM_RECORD_KB,
        help=f"average crmRecords record size served (default {REAL_CRM_RECORD_KB}, a real one); 0: as generated",
    )
    a = p.parse_args(argv)
    sim = DaktelaSimulator(seed=a.seed, scale=a.scale)
    url = sim.start()
    if a.crm_record_kb > 0:
        grow_crm_records(sim, a.crm_record_kb)
    record_kb = {ep: round(served_kb(sim, ep), 1) for ep in ("crmRecords", "activities")}
    sim.reset_counters()
    sim.knobs.latency_ms = a.latency_ms
    totals = {ep: sim.total(ep) for ep in sim.endpoints}
    out = sys.stdout
    out.write(json.dumps({"url": url, "token": sim.static_token, "totals": totals, "record_kb": record_kb}) + "\n")
    out.flush()
    try:
        for line in sys.stdin:
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "reset":
                sim.reset_counters()
                reply: dict = {"ok": True}
            elif cmd == "counters":
                reply = counters(sim)
            elif cmd == "latency":
                sim.knobs.latency_ms = float(arg)
                reply = {"ok": True, "latency_ms": sim.knobs.latency_ms}
            elif cmd == "mutate":
                reply = {"changed": mutate(sim), "totals": {ep: sim.total(ep) for ep in sim.endpoints}}
            else:
                reply = {"error": f"unknown command {cmd!r}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
