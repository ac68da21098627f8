"""Smoke tests of the benchmark script: it runs on the small scale, prints its tables and every count matches.

Not timed tests: nothing here asserts on speed. To stay well under a minute, the test of every case limits them
to a few streams (`--streams`); the raw floor alone covers all of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from scripts.bench import ALL_CASES, Bench
from scripts.bench_sim import MUTATIONS
from tap_daktela.endpoints import ENDPOINTS
from tests.simulator.data import SCALES

REPO = Path(__file__).resolve().parent.parent
# a stream with references, a messaging channel, a referenced table and a small newer one; not `activities`,
# whose own tap and pipe rows would double those cases' time (`test_bench_plan` covers them)
STREAMS = ("tickets", "activitiesWeb", "users", "ticketsCategories")
CHANGED = sum(inserted + updated for ep, inserted, updated in MUTATIONS if ep in STREAMS)  # the nightly case's


def run_bench(tmp_path: Path, *args: str) -> tuple[str, Path]:
    out = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.bench", "--quick", *args, "--output", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_text(encoding="utf-8") == proc.stdout
    return proc.stdout, out


def tables(report: str) -> list[list[list[str]]]:
    """Every markdown table of the report: rows (header first, separator dropped) of stripped cells."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*report.splitlines(), ""]:
        if line.startswith("| "):
            if not line.startswith("|---"):
                cells = line.replace("\\|", "¦").strip("|").split("|")
                current.append([cell.strip().replace("¦", "|") for cell in cells])
        elif line.startswith("|---"):
            continue
        elif current:
            found.append(current)
            current = []
    return found


def checks(report: str) -> list[tuple[str, int, int]]:
    """(check line, records, simulator total) of every record count check."""
    result = []
    for line in report.splitlines():
        if line.startswith("- ") and "simulator total" in line:
            got, want = line.split(" ms: ", 1)[1].split(" — ")[0].split(" records, simulator total ")
            result.append((line, int(got), int(want)))
    return result


def test_bench_every_case_prints_tables_with_matching_counts(tmp_path: Path) -> None:
    report, _ = run_bench(tmp_path, "--streams", ",".join(STREAMS))
    main, side, nightly, goals = tables(report)
    assert main[0][:9] == [
        "case",
        "mode",
        "latency ms",
        "records",
        "requests",
        "MB served",
        "CPU s",
        "wall s",
        "records/s",
    ]
    assert "rate / raw" in main[0] and "wall / raw" in main[0]
    n = len(STREAMS)
    assert [(row[0], row[1]) for row in main[1:]] == [
        ("raw floor (GET + json.loads)", "full"),
        (f"tap > /dev/null, {n} streams", "keys"),
        (f"tap > /dev/null, {n} streams", "full"),
        (f"tap | target-csv, {n} streams", "keys"),
        (f"tap | target-csv, {n} streams", "full"),
        (f"keboola_wrapper, {n} endpoints", "keys"),
        (f"keboola_wrapper, {n} endpoints", "full"),
        (f"keboola_wrapper, {n} endpoints, no launcher (exec)", "keys"),
        (f"keboola_wrapper whole read, {n} endpoints (incremental config, no state)", "keys"),
        (f"keboola_wrapper incremental, {n} endpoints, {CHANGED} records changed", "keys"),
    ]
    want = sum(SCALES["small"][ep] for ep in STREAMS)
    for row in main[1:-1]:
        assert int(row[3].replace(",", "")) == want, row
    for row in main[1:]:
        assert int(row[4].replace(",", "")) > 0, row  # requests, as the simulator counted them
    # the incremental run writes the full-table streams again, the changed tickets and fewer rows than the whole read
    assert SCALES["small"]["users"] + CHANGED <= int(main[-1][3].replace(",", "")) < want
    assert side[0] == ["measure", "keys", "full", "keys, exec", "full / keys", "launcher saving (exec - keys)"]
    assert [row[0] for row in side[1:]] == [
        "requests",
        "MB served",
        "CPU s",
        "wall s",
        "records/s",
        "records/s ÷ raw floor",
        "wall ÷ raw wall",
    ]
    assert all(cell != "-" for row in side[1:] for cell in row[1:4]), side
    found = checks(report)
    assert len(found) == len(main) - 2  # every case but the incremental run, which has its own check
    assert all(line.startswith("- OK ") for line, _, _ in found), found
    assert all(got == total > 0 for _, got, total in found), found
    (incremental,) = [line for line in report.splitlines() if line.startswith("- ") and "changed since" in line]
    assert incremental.startswith("- OK ") and f"every one of the {CHANGED} records" in incremental, incremental

    # the nightly case side by side: the whole read and the incremental run, both measured
    assert nightly[0] == ["measure", "whole read", "incremental", "incremental / whole"]
    by_measure = {row[0]: row[1:] for row in nightly[1:]}
    assert {"requests", "requests per stream", "wall s", "net floor s", "wall ÷ net floor"} <= set(by_measure)
    assert all(cell not in ("", "-") for cell in by_measure["requests"] + by_measure["wall s"])

    # issue 19's goals: each with its verdict; at 0 ms only, the 200 ms goals cannot be judged
    assert goals[0] == ["goal", "measured", "target", "result"]
    verdicts = {row[0]: row[3] for row in goals[1:]}
    assert set(verdicts.values()) <= {"PASS", "FAIL", "n/a"}
    assert verdicts["incremental run, few changes, 0 ms: requests"] in ("PASS", "FAIL")
    assert verdicts["incremental run, few changes, 200 ms: wall ÷ network floor"] == "n/a"
    assert verdicts["component, keys: peak RSS of the largest process, scale small"] in ("PASS", "FAIL")


def test_bench_raw_floor_reads_every_stream(tmp_path: Path) -> None:
    report, _ = run_bench(tmp_path, "--cases", "raw")
    assert {endpoint.name for endpoint in ENDPOINTS} <= set(SCALES["small"])
    main, _goals = tables(report)
    assert [row[0] for row in main[1:]] == ["raw floor (GET + json.loads)"]
    ((line, got, total),) = checks(report)
    assert line.startswith("- OK "), line
    assert got == total == sum(SCALES["small"][endpoint.name] for endpoint in ENDPOINTS)


def test_bench_plan_covers_every_case_in_table_order() -> None:
    """Without --streams: the raw floor, tap and pipe on activities alone and on all streams in both modes, then
    the component's three variants and the nightly case."""
    totals = dict(SCALES["bench"])
    bench = Bench(SimpleNamespace(totals=totals), "bench", list(totals))  # type: ignore[arg-type]
    assert [case for case, _ in bench.plan(list(ALL_CASES))] == [
        "raw",
        "tap",
        "tap",
        "tap-full",
        "tap-full",
        "pipe",
        "pipe",
        "pipe-full",
        "pipe-full",
        "wrapper",
        "wrapper-full",
        "wrapper-exec",
        "nightly",
    ]
    assert [case for case, _ in bench.plan(["wrapper-exec", "raw"])] == ["raw", "wrapper-exec"]
    assert {endpoint.name for endpoint in ENDPOINTS} <= set(totals) == set(SCALES["bench10"])


def test_bench_cases_after_the_nightly_case_read_its_changes(tmp_path: Path) -> None:
    """The nightly case changes the simulator's data; the component at the next latency reads those records too
    (they carry today's time, inside every component case's window) and every count still matches."""
    report, _ = run_bench(tmp_path, "--cases", "wrapper,nightly", "--latency", "0,1", "--streams", "tickets,users")
    found = checks(report)
    assert [line.split(" [")[0] for line, _, _ in found] == [
        "- OK  keboola_wrapper, 2 endpoints",
        "- OK  keboola_wrapper whole read, 2 endpoints (incremental config, no state)",
    ] * 2, found
    inserted = sum(n for ep, n, _ in MUTATIONS if ep == "tickets")
    assert found[2][2] == found[0][2] + inserted  # the simulator's total after the first nightly case's inserts
