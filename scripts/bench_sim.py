"""Host the Daktela simulator in its own process for the benchmark, with its counters readable over stdin/stdout.

``python -m scripts.bench_sim --scale bench [--seed 1] [--latency-ms 0]`` prints one JSON line
``{"url", "token", "totals"}`` once listening, then answers one JSON line per command read from stdin:

- ``counters``: requests, pages, bytes_sent, peak_in_flight, logins since the last reset;
- ``reset``: zero the counters;
- ``latency <ms>``: set the simulated latency per request.

EOF on stdin stops the server. The simulator itself is used as is (``tests.simulator``), nothing is patched.
"""

from __future__ import annotations

import argparse
import json
import sys

from tests.simulator import DaktelaSimulator
from tests.simulator.data import SCALES


def counters(sim: DaktelaSimulator) -> dict[str, int]:
    c = sim.counters
    return {
        "requests": c.requests,
        "pages": c.pages,
        "bytes_sent": c.bytes_sent,
        "peak_in_flight": c.peak_in_flight,
        "logins": c.logins,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench_sim")
    p.add_argument("--scale", choices=sorted(SCALES), default="bench")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=float, default=0.0)
    a = p.parse_args(argv)
    sim = DaktelaSimulator(seed=a.seed, scale=a.scale)
    sim.knobs.latency_ms = a.latency_ms
    url = sim.start()
    totals = {ep: sim.total(ep) for ep in sim.endpoints}
    out = sys.stdout
    out.write(json.dumps({"url": url, "token": sim.static_token, "totals": totals}) + "\n")
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
            else:
                reply = {"error": f"unknown command {cmd!r}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
