"""The raw floor of the benchmark: plain sequential GETs of every page plus stdlib ``json.loads``, no tap.

``python -m scripts.bench_raw URL TOKEN [ENDPOINT[,ENDPOINT...]] [--take 1000]`` pages each endpoint (default:
all of the tap's, ``tap_daktela.endpoints``) with ``skip``/``take`` and the ``X-AUTH-TOKEN`` header over one
keep-alive connection, full records (no ``fields[]``), and prints one JSON line ``{"records", "pages",
"by_endpoint"}``.
"""

from __future__ import annotations

import argparse
import json

import requests


def read_endpoint(session: requests.Session, url: str, endpoint: str, take: int) -> tuple[int, int]:
    """Return (records, pages) of one endpoint read page by page until the reported total is reached."""
    records = pages = skip = 0
    while True:
        resp = session.get(f"{url}/api/v6/{endpoint}.json", params={"skip": skip, "take": take}, timeout=300)
        resp.raise_for_status()
        result = json.loads(resp.content)["result"]
        pages += 1
        data = result["data"]
        records += len(data)
        skip += take
        if len(data) < take or skip >= int(result["total"]):
            return records, pages


def all_endpoints() -> list[str]:
    """Every stream of the tap (imported only when asked: the floor's own CPU should not include the package)."""
    from tap_daktela.endpoints import ENDPOINTS

    return [endpoint.name for endpoint in ENDPOINTS]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench_raw")
    p.add_argument("url")
    p.add_argument("token")
    p.add_argument("endpoints", nargs="?", default=None, help="comma-separated (default: every stream of the tap)")
    p.add_argument("--take", type=int, default=1000)
    a = p.parse_args(argv)
    by_endpoint: dict[str, int] = {}
    pages = 0
    with requests.Session() as session:
        session.headers["X-AUTH-TOKEN"] = a.token
        for ep in a.endpoints.split(",") if a.endpoints else all_endpoints():
            n, k = read_endpoint(session, a.url.rstrip("/"), ep, a.take)
            by_endpoint[ep] = n
            pages += k
    print(json.dumps({"records": sum(by_endpoint.values()), "pages": pages, "by_endpoint": by_endpoint}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
