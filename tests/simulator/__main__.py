"""``python -m tests.simulator --port 8080 [--seed 1] [--scale small|demo|bench|bench10] [--latency-ms 0]``."""

from __future__ import annotations

import argparse
import sys
import threading

from .data import SCALES
from .server import DaktelaSimulator


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.simulator", description="Local Daktela REST API v6 simulator")
    p.add_argument("--port", type=int, default=8080, help="TCP port on 127.0.0.1 (0 = ephemeral)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", choices=sorted(SCALES), default="small")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--username", default="api_user")
    p.add_argument("--password", default="s3cret-Pa55")
    p.add_argument("--static-token", default="static-token-0123456789")
    a = p.parse_args(argv)
    sim = DaktelaSimulator(
        seed=a.seed, scale=a.scale, username=a.username, password=a.password, static_token=a.static_token, port=a.port
    )
    sim.knobs.latency_ms = a.latency_ms
    url = sim.start()
    counts = ", ".join(f"{ep}={len(t.entries)}" for ep, t in sim.tables.items())
    print(f"Daktela simulator listening on {url}  (API base {url}/api/v6/)", flush=True)
    print(f"login: username={sim.username} password={sim.password}", flush=True)
    print(f"static token: {sim.static_token}", flush=True)
    print(f"scale={a.scale} seed={a.seed} generated in {sim.generation_seconds:.1f}s: {counts}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
