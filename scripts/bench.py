"""Benchmark: records/s, wall time, peak memory and requests of the tap and the Keboola wrapper (SPEC section 6).

``python -m scripts.bench [--scale bench] [--latency 0,200] [--cases raw,tap,pipe,wrapper,wrapper-exec] [--quick]``

The simulator runs in its own process (``scripts.bench_sim``) so it never shares a GIL with the measured
process. Every case is a real subprocess whose whole process tree is sampled from /proc every ~50 ms:

- ``raw``: the floor, sequential GET + stdlib ``json.loads`` of every page (skip/take 1000), no tap;
- ``tap``: ``tap-daktela`` to /dev/null (static token), the activities stream alone and all streams;
- ``pipe``: ``tap-daktela | target-csv`` configured as the wrapper does (flat records, no validation, ...);
- ``wrapper``: ``python -m keboola_wrapper`` end to end on all 15 endpoints.

Record counts are checked against the simulator's totals; requests and peak in-flight requests come from the
simulator's counters. The markdown table is printed and written to ``bench-output/latest.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PAGE = 1000
TAP_CONCURRENCY = 10  # the tap's default max_concurrent_requests, and the wrapper's default budget
WRAPPER_PARALLEL = 3  # the wrapper's default max_concurrent_endpoints
BIG_STREAM = "activities"
ALL_CASES = ("raw", "tap", "pipe", "wrapper", "wrapper-exec")
CPUS = os.cpu_count() or 1
# The original component on 66.5k records (issue 6): records/s at 0 ms and 200 ms latency, and its raw floor.
REFERENCE = {0.0: 939.0, 200.0: 745.0}
REFERENCE_TEXT = (
    "original component, 66.5k records: 70.9 s at 0 ms (939 rec/s, 320 MB), 89.2 s at 200 ms (745 rec/s); "
    "raw floor 27 s (2,470 rec/s)"
)
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_METRIC = re.compile(r'METRIC: (\{.*"metric":\s*"record_count".*\})')
_REQUESTS = re.compile(r"\| (\w+): (\d+) requests")


# ------------------------------------------------------------------------------------------------ measuring


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants (and the largest single one) from /proc."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.root = root
        self.interval = interval
        self.peak_tree = 0
        self.peak_max = 0
        self.samples = 0
        self._halt = threading.Event()

    @staticmethod
    def _scan() -> dict[int, tuple[int, int]]:
        """pid -> (ppid, rss bytes) of every visible process."""
        procs: dict[int, tuple[int, int]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            procs[int(name)] = (int(fields[1]), int(fields[21]) * PAGE_SIZE)
        return procs

    def sample(self) -> None:
        procs = self._scan()
        if self.root not in procs:
            return
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        total = biggest = 0
        todo = [self.root]
        while todo:
            pid = todo.pop()
            rss = procs[pid][1]
            total += rss
            biggest = max(biggest, rss)
            todo.extend(children.get(pid, ()))
        self.peak_tree = max(self.peak_tree, total)
        self.peak_max = max(self.peak_max, biggest)
        self.samples += 1

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Run:
    returncode: int
    wall: float
    peak_tree: int
    peak_max: int
    stderr: str
    cpu: float = 0.0  # user + system seconds of the whole process tree


def measure(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, stdout: Any = None) -> Run:
    """Run `cmd` to completion, timing it and sampling its process tree's memory; stderr goes to a temp file."""
    with tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout or subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        wall = time.perf_counter() - t0
        sampler.stop()
        # every process of the tree is reaped by its parent before the parent ends, so its CPU is counted here
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(rc, wall, sampler.peak_tree, sampler.peak_max, text, cpu)


# ------------------------------------------------------------------------------------------------ simulator


class SimProcess:
    """`python -m scripts.bench_sim` in its own process; commands over its stdin, one JSON reply per line."""

    def __init__(self, scale: str, latency_ms: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.bench_sim", "--scale", scale, "--latency-ms", str(latency_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
            text=True,
        )
        hello = self._reply()
        self.url: str = hello["url"]
        self.token: str = hello["token"]
        self.totals: dict[str, int] = hello["totals"]

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator process exited (code {self.proc.poll()})")
        return json.loads(line)

    def command(self, text: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------------------------------------ cases


@dataclass
class Result:
    case: str
    latency: float
    records: int
    expected: int
    wall: float
    peak_tree: int
    peak_max: int
    requests: int
    peak_in_flight: int
    pages: int
    concurrency: int
    bytes_sent: int = 0
    cpu: float = 0.0
    ok: bool = True
    note: str = ""

    @property
    def rate(self) -> float:
        return self.records / self.wall if self.wall else 0.0

    @property
    def net_floor(self) -> float:
        """The issue's network floor: pages x latency / concurrency."""
        return self.pages * self.latency / 1000 / self.concurrency


def tap_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_DAKTELA_", "TARGET_CSV_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def metric_records(stderr: str) -> dict[str, int]:
    """Records per stream from singer-sdk's `record_count` METRIC lines (the counter resets at each emission)."""
    counts: dict[str, int] = {}
    for match in _METRIC.finditer(stderr):
        metric = json.loads(match.group(1))
        stream = metric["tags"]["stream"]
        counts[stream] = counts.get(stream, 0) + int(metric["value"])
    return counts


def logged_requests(stderr: str) -> int:
    """Requests the tap reports itself in its INFO lines `<stream>: N requests`."""
    return sum(int(m.group(2)) for m in _REQUESTS.finditer(stderr))


def csv_rows(folder: Path) -> dict[str, int]:
    """Data rows (header excluded) of every CSV file in `folder`, by file stem."""
    rows: dict[str, int] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows[path.stem] = max(0, sum(1 for _ in csv.reader(fh)) - 1)
    return rows


def catalog_for(tmp: Path, config_path: Path, streams: set[str] | None) -> Path | None:
    """A catalog from `tap-daktela --discover` with only `streams` selected (None: no catalog, all streams)."""
    if streams is None:
        return None
    out = subprocess.run(
        [str(BIN / "tap-daktela"), "--config", str(config_path), "--discover"],
        capture_output=True,
        check=True,
        env=tap_env(),
    ).stdout
    catalog = json.loads(out)
    for entry in catalog["streams"]:
        wanted = entry["tap_stream_id"] in streams
        for item in entry.get("metadata", []):
            if not item.get("breadcrumb"):
                item.setdefault("metadata", {})["selected"] = wanted
    path = tmp / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


class Bench:
    def __init__(self, sim: SimProcess, scale: str) -> None:
        self.sim = sim
        self.scale = scale
        self.checks: list[str] = []
        self.pages_by_endpoint = {ep: max(1, math.ceil(n / PAGE)) for ep, n in sim.totals.items()}

    def _finish(
        self, case: str, latency: float, run: Run, got: dict[str, int], streams: list[str], conc: int
    ) -> Result:
        counters = self.sim.command("counters")
        expected = {ep: self.sim.totals[ep] for ep in streams}
        got = {ep: got.get(ep, 0) for ep in streams}
        ok = run.returncode == 0 and got == expected
        note = "" if run.returncode == 0 else f"exit {run.returncode}: {_last_line(run.stderr)}"
        if got != expected:
            diff = {ep: (got[ep], expected[ep]) for ep in streams if got[ep] != expected[ep]}
            note = (note + "; " if note else "") + f"count mismatch (got, expected): {diff}"
        total, want = sum(got.values()), sum(expected.values())
        self.checks.append(
            f"{'OK ' if ok else 'BAD'} {case} @ {latency:g} ms: {total} records, simulator total {want}"
            + (f" — {note}" if note else "")
        )
        return Result(
            case=case,
            latency=latency,
            records=total,
            expected=want,
            wall=run.wall,
            cpu=run.cpu,
            peak_tree=run.peak_tree,
            peak_max=run.peak_max,
            requests=counters["requests"],
            peak_in_flight=counters["peak_in_flight"],
            pages=sum(self.pages_by_endpoint[ep] for ep in streams),
            concurrency=conc,
            bytes_sent=counters["bytes_sent"],
            ok=ok,
            note=note,
        )

    def raw(self, latency: float) -> Result:
        streams = list(self.sim.totals)
        self.sim.command("reset")
        cmd = [sys.executable, "-m", "scripts.bench_raw", self.sim.url, self.sim.token, ",".join(streams)]
        with tempfile.TemporaryFile() as out:
            run = measure(cmd, cwd=REPO, stdout=out)
            out.seek(0)
            text = out.read().decode()
        got = json.loads(text)["by_endpoint"] if run.returncode == 0 else {}
        return self._finish("raw floor (GET + json.loads)", latency, run, got, streams, 1)

    def _tap_config(self, tmp: Path, flatten: bool) -> Path:
        config = {
            "url": self.sim.url,
            "access_token": self.sim.token,
            "page_size": PAGE,
            "max_concurrent_requests": TAP_CONCURRENCY,
        }
        if flatten:
            config["flatten_records"] = True
        return write_json(tmp / "tap.json", config)

    def tap(self, latency: float, streams: list[str] | None) -> Result:
        names = streams or list(self.sim.totals)
        with tempfile.TemporaryDirectory(prefix="bench-tap-") as d:
            tmp = Path(d)
            config = self._tap_config(tmp, flatten=False)
            catalog = catalog_for(tmp, config, set(streams) if streams else None)
            cmd = [str(BIN / "tap-daktela"), "--config", str(config)]
            if catalog:
                cmd += ["--catalog", str(catalog)]
            self.sim.command("reset")
            run = measure(cmd, env=tap_env(), cwd=tmp)
        label = f"tap > /dev/null, {'activities' if streams else 'all streams'}"
        result = self._finish(label, latency, run, metric_records(run.stderr), names, TAP_CONCURRENCY)
        result.note = _join(result.note, f"tap logged {logged_requests(run.stderr)} list requests")
        return result

    def pipe(self, latency: float, streams: list[str] | None) -> Result:
        from keboola_wrapper.launcher import PROGRAMS
        from keboola_wrapper.runner import target_settings

        names = streams or list(self.sim.totals)
        with tempfile.TemporaryDirectory(prefix="bench-pipe-") as d:
            tmp = Path(d)
            tables = tmp / "tables"
            tables.mkdir()
            config = self._tap_config(tmp, flatten=True)
            catalog = catalog_for(tmp, config, set(streams) if streams else None)
            target = write_json(tmp / "target.json", target_settings(tables))
            tap_cmd = [str(BIN / "tap-daktela"), "--config", str(config)]
            if catalog:
                tap_cmd += ["--catalog", str(catalog)]
            # the target exactly as the wrapper runs it: target-csv with the SDK's msgspec reader
            target_cmd = [sys.executable, "-m", PROGRAMS["target-csv"], "--config", str(target)]
            script = f"set -o pipefail; {shlex.join(tap_cmd)} | {shlex.join(target_cmd)}"
            self.sim.command("reset")
            run = measure(["bash", "-c", script], env=tap_env(), cwd=tmp)
            got = csv_rows(tables)
        label = f"tap | target-csv, {'activities' if streams else 'all streams'}"
        return self._finish(label, latency, run, got, names, TAP_CONCURRENCY)

    def wrapper(self, latency: float, launcher: str = "fork") -> Result:
        """The component end to end; `launcher="exec"` starts every tap and target as a fresh process."""
        from tap_daktela.endpoints import ENDPOINTS as TABLE

        ENDPOINTS = [endpoint.name for endpoint in TABLE]

        with tempfile.TemporaryDirectory(prefix="bench-kbc-") as d:
            data = Path(d)
            params = {
                "connection": {"url": self.sim.url, "username": "api_user", "#password": "s3cret-Pa55"},
                "data_selection": {
                    "date_from": "2000-01-01",
                    "date_to": "today",
                    "endpoints": [{"endpoint": ep} for ep in ENDPOINTS],
                },
                "destination": {"incremental": False},
                "advanced": {},
            }
            write_json(data / "config.json", {"parameters": params})
            env = {**tap_env(), "KBC_DATADIR": str(data), "KBC_DAKTELA_LAUNCHER": launcher}
            env.pop("KBC_RUNID", None)
            self.sim.command("reset")
            run = measure([sys.executable, "-m", "keboola_wrapper"], env=env, cwd=REPO)
            got = csv_rows(data / "out" / "tables")
        conc = TAP_CONCURRENCY // WRAPPER_PARALLEL * WRAPPER_PARALLEL
        label = f"keboola_wrapper, {len(ENDPOINTS)} endpoints" + (", no launcher (exec)" if launcher == "exec" else "")
        return self._finish(label, latency, run, got, list(ENDPOINTS), conc)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "no output"


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


# ------------------------------------------------------------------------------------------------ report


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f}"


def git_revision() -> str:
    """Commit under test (the tap is installed editable, so this is the code measured) and whether it is dirty."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "tap_daktela", "keboola_wrapper"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout
    except OSError:
        return "unknown"
    return rev.strip() + (" (+ uncommitted changes in tap_daktela/keboola_wrapper)" if dirty.strip() else "")


def render(
    results: list[Result], scale: str, totals: dict[str, int], checks: list[str], load: tuple[float, float]
) -> str:
    raw = {r.latency: r for r in results if r.case.startswith("raw")}
    lines = [
        f"Commit `{git_revision()}`.",
        f"Scale `{scale}`: {sum(totals.values()):,} records in {len(totals)} endpoints "
        f"({', '.join(f'{k}={v}' for k, v in totals.items())}); page size {PAGE}; {os.cpu_count()} CPUs; "
        f"1-min load average {load[0]:.2f} at start, {load[1]:.2f} at end (other work on the machine skews times).",
        "",
        "| case | latency ms | records | wall s | records/s | vs raw floor | vs original | net floor s "
        "| CPU s | CPU floor s | wall / max(floors) "
        "| peak RSS tree MB | peak RSS max proc MB | requests | peak in-flight | MB served |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        floor = raw.get(r.latency)
        vs_raw = f"{r.rate / floor.rate:.2f}" if floor and floor.rate else "-"
        ref = REFERENCE.get(r.latency)
        vs_ref = f"{r.rate / ref:.2f}x" if ref else "-"
        net = f"{r.net_floor:.1f}" if r.latency else "-"
        records = f"{r.records:,}" + ("" if r.ok else " ✗")
        cpu_floor = r.cpu / CPUS
        bound = max(cpu_floor, r.net_floor if r.latency else 0.0)
        lines.append(
            f"| {r.case.replace('|', chr(92) + '|')} | {r.latency:g} | {records} | {r.wall:.1f} | {r.rate:,.0f} "
            f"| {vs_raw} | {vs_ref} | {net} | {r.cpu:.1f} | {cpu_floor:.1f} | {r.wall / bound:.2f} "
            f"| {_mb(r.peak_tree)} | {_mb(r.peak_max)} | {r.requests} | {r.peak_in_flight} | {_mb(r.bytes_sent)} |"
        )
    lines += [
        "",
        f"Reference ({REFERENCE_TEXT}). *vs original* = records/s over 939 (0 ms) or 745 (200 ms).",
        "*vs raw floor* = records/s over the raw floor's at the same latency. *net floor* = pages x latency / "
        "concurrency (raw 1; tap 10 per stream; wrapper 3 endpoints x 3 requests). Requests and peak in-flight "
        "come from the simulator's counters (logins and `whoim` included), "
        "as do MB served (response bodies). *CPU s* = user + system seconds of the case's whole process tree; "
        f"*CPU floor* = that over the {CPUS} cores; *wall / max(floors)* = wall time over the larger of the CPU "
        "and network floors (1.00 = no idle core and no idle connection). RSS sums the case's process tree "
        "(sampled every 50 ms); the simulator's own process is not included.",
        "",
        "Record count checks:",
        "",
        *[f"- {c}" for c in checks],
    ]
    failed = [r for r in results if not r.ok]
    for r in failed:
        lines.append(f"- FAILED {r.case} @ {r.latency:g} ms: {r.note}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", default=None, help="simulator scale: small, demo, bench (default), bench10")
    p.add_argument("--latency", default=None, help="comma-separated simulated latencies in ms (default 0,200)")
    p.add_argument("--cases", default=",".join(ALL_CASES), help=f"subset of {','.join(ALL_CASES)}")
    p.add_argument("--quick", action="store_true", help="small scale, 0 ms only (a smoke run)")
    p.add_argument("--output", default=None, help="markdown file (default bench-output/latest.md; quick.md if --quick)")
    a = p.parse_args(argv)
    a.scale = a.scale or ("small" if a.quick else "bench")
    a.latencies = [float(x) for x in (a.latency or ("0" if a.quick else "0,200")).split(",") if x.strip()]
    a.case_list = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = set(a.case_list) - set(ALL_CASES)
    if unknown:
        p.error(f"unknown case(s) {sorted(unknown)}; choose from {','.join(ALL_CASES)}")
    default_out = "bench-output/quick.md" if a.quick else "bench-output/latest.md"
    a.output = Path(a.output or REPO / default_out)
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    load_start = os.getloadavg()[0]
    print(f"starting simulator (scale {a.scale}) ...", file=sys.stderr, flush=True)
    sim = SimProcess(a.scale)
    bench = Bench(sim, a.scale)
    results: list[Result] = []
    try:
        for latency in a.latencies:
            sim.command(f"latency {latency}")
            plan: list[tuple[str, Any]] = []
            if "raw" in a.case_list:
                plan.append(("raw", bench.raw))
            if "tap" in a.case_list:
                plan += [("tap", lambda lat: bench.tap(lat, [BIG_STREAM])), ("tap", lambda lat: bench.tap(lat, None))]
            if "pipe" in a.case_list:
                plan += [
                    ("pipe", lambda lat: bench.pipe(lat, [BIG_STREAM])),
                    ("pipe", lambda lat: bench.pipe(lat, None)),
                ]
            if "wrapper" in a.case_list:
                plan.append(("wrapper", bench.wrapper))
            if "wrapper-exec" in a.case_list:
                plan.append(("wrapper-exec", lambda lat: bench.wrapper(lat, launcher="exec")))
            for _, fn in plan:
                r = fn(latency)
                print(
                    f"  {r.case} @ {latency:g} ms: {r.records} records in {r.wall:.1f} s ({r.rate:,.0f}/s), "
                    f"{_mb(r.peak_tree)} MB tree{'' if r.ok else '  FAILED: ' + r.note}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(r)
    finally:
        sim.close()
    report = render(results, a.scale, sim.totals, bench.checks, (load_start, os.getloadavg()[0]))
    sys.stdout.write(report)
    sys.stdout.flush()
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(report, encoding="utf-8")
    print(f"written to {a.output}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
