"""Benchmark: records/s, wall time, CPU, memory, requests and bytes of the tap and the Keboola component.

``python -m scripts.bench [--scale bench] [--latency 0,200] [--cases raw,tap,...] [--streams a,b] [--quick]``

The simulator runs in its own process (``scripts.bench_sim``) so it never shares a GIL with the measured
process, and every case of one run reads the same simulator data. Every case is a real subprocess whose whole
process tree is sampled from /proc every ~50 ms; its CPU is the tree's user + system seconds. The cases:

- ``raw``: the floor, sequential GET + stdlib ``json.loads`` of every page (skip/take 1000) of every one of the
  23 endpoints, full records (no ``fields[]``), no tap;
- ``tap`` / ``tap-full``: ``tap-daktela`` to /dev/null (static token) in ``nested_objects`` ``keys`` (the
  default) / ``full`` mode, the activities stream alone and all streams;
- ``pipe`` / ``pipe-full``: ``tap-daktela | target-csv`` configured as the component does (flat records, no
  validation, ...), in ``keys`` / ``full`` mode;
- ``wrapper`` / ``wrapper-full``: ``python -m keboola_wrapper`` end to end on every endpoint with
  ``data_selection.nested_objects`` ``keys`` / ``full``, processes started by its launcher (the multiprocessing
  forkserver);
- ``wrapper-exec``: the same in ``keys`` mode with ``KBC_DAKTELA_LAUNCHER=exec`` (fresh processes), so the
  launcher's CPU and wall saving shows;
- ``nightly``: the nightly job: the component with ``incremental: true`` twice on the same data folder, first with
  no state (a whole read of every stream, what a weekly whole read costs), then, after the simulator inserted and
  updated a handful of records (``scripts.bench_sim``'s ``mutate``), with the first run's state (an incremental
  run that finds a few changes). Both are reported side by side; the incremental run must bring every changed
  record.

Payloads are real-size: the simulator process grows crmRecords to a real record's size (197 KB of JSON, see
``scripts.bench_sim``); activities already are (~24 KB with their embedded records). The floors follow issue 19:
network floor = requests x latency / concurrency; CPU floor = CPU s / the cores the case can use (one for a
single process). The report ends with issue 19's goals, each with PASS or FAIL.

``--quick`` is a smoke run: small scale, 0 ms, every case but without the activities-alone rows. ``--streams``
limits every case (raw included) to some endpoints (the smoke test uses it to stay fast). Record
counts are checked against the simulator's totals for every case and every endpoint; requests, peak in-flight
requests and bytes served come from the simulator's counters, as measured. The markdown report (a table of every
case, the component's variants side by side, the nightly case side by side with the whole read, the goals) is
printed and written to ``bench-output/latest.md`` (``bench-output/quick.md`` with ``--quick``).

The final numbers: ``python -m scripts.bench`` (``make bench``; scale ``bench``, 0 and 200 ms, every case) and
at 10x data the component's variants and their floors, without the slow pipe rows:
``python -m scripts.bench --scale bench10 --latency 0 --cases raw,tap,wrapper,wrapper-full,wrapper-exec
--output bench-output/bench10.md`` (every case works at bench10 too; it just takes much longer; the goal on peak
memory at 10x data is judged from such a run).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import re
import resource
import shlex
import shutil
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
# case -> (kind, nested_objects mode, launcher); in table order
CASES: dict[str, tuple[str, str, str]] = {
    "raw": ("raw", "full", ""),
    "tap": ("tap", "keys", ""),
    "tap-full": ("tap", "full", ""),
    "pipe": ("pipe", "keys", ""),
    "pipe-full": ("pipe", "full", ""),
    "wrapper": ("wrapper", "keys", "fork"),
    "wrapper-full": ("wrapper", "full", "fork"),
    "wrapper-exec": ("wrapper", "keys", "exec"),
    "nightly": ("nightly", "keys", "fork"),
}
ALL_CASES = tuple(CASES)
CPUS = os.cpu_count() or 1
# The original component on 66.5k records (issue 6): records/s at 0 ms and 200 ms latency, and its raw floor.
REFERENCE = {0.0: 939.0, 200.0: 745.0}
REFERENCE_TEXT = (
    "original component, 66.5k records: 70.9 s at 0 ms (939 rec/s, 320 MB), 89.2 s at 200 ms (745 rec/s); "
    "raw floor 27 s (2,470 rec/s)"
)
# issue 19's goals
INCREMENTAL_WALL_GOAL = 1.5  # x its network floor at 200 ms
TAP_ALONE_GOAL = 1.3  # x max(network floor, CPU) at 200 ms
RAW_GOAL = 3.0  # x the raw floor's records/s at 0 ms
ORIGINAL_GOAL = 8.0  # x the original component's records/s at 200 ms
MEMORY_GOAL_MB = 250  # the largest process of the component
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_METRIC = re.compile(r'METRIC: (\{.*"metric":\s*"record_count".*\})')
_REQUESTS = re.compile(r"\|   (\w+): \d+ records?, (\d+) requests?, ")  # the tap's run summary, a line per stream


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
        self.record_kb: dict[str, float] = hello.get("record_kb", {})

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

    def mutate(self) -> dict[str, list[Any]]:
        """Insert and update a few records; the totals follow. Returns the changed keys per endpoint."""
        reply = self.command("mutate")
        self.totals = reply["totals"]
        return reply["changed"]

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
    kind: str  # raw, tap, pipe, wrapper
    mode: str  # nested_objects: keys or full (the raw floor reads full records)
    launcher: str  # the component's: fork (its launcher) or exec; "" for the others
    streams: int  # endpoints read
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
    parallel: int = 1  # processes of the case that can use a core at once (CPU floor)
    alone: bool = False  # the big stream alone

    @property
    def rate(self) -> float:
        return self.records / self.wall if self.wall else 0.0

    @property
    def net_floor(self) -> float:
        """Issue 19's network floor: requests x latency / concurrency."""
        return self.requests * self.latency / 1000 / self.concurrency

    @property
    def cpu_floor(self) -> float:
        """CPU seconds over the cores the case can use."""
        return self.cpu / max(1, min(CPUS, self.parallel))

    @property
    def bound(self) -> float:
        """The larger floor: max(network floor, CPU floor)."""
        return max(self.cpu_floor, self.net_floor)


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
    """Requests the tap reports itself in its run summary (`<stream>: N records, M requests, ...`)."""
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


def tap_streams() -> list[str]:
    """Every stream of the tap, in its endpoint table's order."""
    from tap_daktela.endpoints import ENDPOINTS

    return [endpoint.name for endpoint in ENDPOINTS]


def missing_keys(folder: Path, changed: dict[str, list[Any]]) -> dict[str, list[str]]:
    """Changed records (endpoint -> keys) that are not a row of the endpoint's CSV table, by primary key column."""
    from tap_daktela.endpoints import ENDPOINTS

    primary = {endpoint.name: endpoint.primary_key for endpoint in ENDPOINTS}
    missing: dict[str, list[str]] = {}
    for ep, keys in changed.items():
        path = folder / f"{ep}.csv"
        found: set[str] = set()
        if path.exists():
            with path.open(newline="", encoding="utf-8") as fh:
                found = {row.get(primary.get(ep, "name")) or "" for row in csv.DictReader(fh)}
        lost = [str(key) for key in keys if str(key) not in found]
        if lost:
            missing[ep] = lost
    return missing


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


class Bench:
    def __init__(self, sim: SimProcess, scale: str, streams: list[str]) -> None:
        self.sim = sim
        self.scale = scale
        self.streams = streams  # every case reads these endpoints (all of the simulator's unless --streams)
        self.checks: list[str] = []
        self.pages_by_endpoint = {ep: max(1, math.ceil(n / PAGE)) for ep, n in sim.totals.items()}

    def _finish(
        self,
        case: str,
        latency: float,
        run: Run,
        got: dict[str, int],
        streams: list[str],
        conc: int,
        *,
        kind: str,
        mode: str,
        launcher: str = "",
        parallel: int = 1,
    ) -> Result:
        counters = self.sim.command("counters")
        expected = {ep: self.sim.totals[ep] for ep in streams}
        extra = sorted(set(got) - set(streams))
        got = {ep: got.get(ep, 0) for ep in streams}
        ok = run.returncode == 0 and got == expected and not extra
        note = "" if run.returncode == 0 else f"exit {run.returncode}: {_last_line(run.stderr)}"
        if got != expected:
            diff = {ep: (got[ep], expected[ep]) for ep in streams if got[ep] != expected[ep]}
            note = _join(note, f"count mismatch (got, expected): {diff}")
        if extra:
            note = _join(note, f"unexpected output for {extra}")
        total, want = sum(got.values()), sum(expected.values())
        self.checks.append(
            f"{'OK ' if ok else 'BAD'} {case} [{mode}] @ {latency:g} ms: {total} records, simulator total {want}"
            + (f" — {note}" if note else "")
        )
        return Result(
            case=case,
            kind=kind,
            mode=mode,
            launcher=launcher,
            streams=len(streams),
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
            parallel=parallel,
        )

    def raw(self, latency: float) -> Result:
        streams = self.streams
        self.sim.command("reset")
        cmd = [sys.executable, "-m", "scripts.bench_raw", self.sim.url, self.sim.token, ",".join(streams)]
        with tempfile.TemporaryFile() as out:
            run = measure(cmd, cwd=REPO, stdout=out)
            out.seek(0)
            text = out.read().decode()
        got = json.loads(text)["by_endpoint"] if run.returncode == 0 else {}
        return self._finish("raw floor (GET + json.loads)", latency, run, got, streams, 1, kind="raw", mode="full")

    def _tap_config(self, tmp: Path, mode: str, flatten: bool) -> Path:
        config: dict[str, Any] = {
            "url": self.sim.url,
            "access_token": self.sim.token,
            "page_size": PAGE,
            "max_concurrent_requests": TAP_CONCURRENCY,
            "nested_objects": mode,
            "metrics_log_level": "INFO",  # metric_records reads the record_count METRIC lines
        }
        if flatten:
            config["flatten_records"] = True
        return write_json(tmp / "tap.json", config)

    def _selection(self, streams: list[str] | None) -> tuple[list[str], set[str] | None, str]:
        """Streams read, the catalog selection (None: no catalog, the tap's default of all streams) and a label."""
        if streams:
            return streams, set(streams), ", ".join(streams)
        if len(self.streams) == len(tap_streams()):
            return self.streams, None, f"all {len(self.streams)} streams"
        n = len(self.streams)
        return self.streams, set(self.streams), f"{n} stream{'s' if n > 1 else ''}"

    def tap(self, latency: float, streams: list[str] | None, mode: str = "keys") -> Result:
        names, selected, what = self._selection(streams)
        with tempfile.TemporaryDirectory(prefix="bench-tap-") as d:
            tmp = Path(d)
            config = self._tap_config(tmp, mode, flatten=False)
            catalog = catalog_for(tmp, config, selected)
            cmd = [str(BIN / "tap-daktela"), "--config", str(config)]
            if catalog:
                cmd += ["--catalog", str(catalog)]
            self.sim.command("reset")
            run = measure(cmd, env=tap_env(), cwd=tmp)
        label = f"tap > /dev/null, {what}"
        got = metric_records(run.stderr)
        result = self._finish(label, latency, run, got, names, TAP_CONCURRENCY, kind="tap", mode=mode)
        result.note = _join(result.note, f"tap logged {logged_requests(run.stderr)} requests")
        result.alone = names == [BIG_STREAM] and self.streams != [BIG_STREAM]
        return result

    def pipe(self, latency: float, streams: list[str] | None, mode: str = "keys") -> Result:
        from keboola_wrapper.launcher import PROGRAMS
        from keboola_wrapper.runner import target_settings

        names, selected, what = self._selection(streams)
        with tempfile.TemporaryDirectory(prefix="bench-pipe-") as d:
            tmp = Path(d)
            tables = tmp / "tables"
            tables.mkdir()
            config = self._tap_config(tmp, mode, flatten=True)
            catalog = catalog_for(tmp, config, selected)
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
        label = f"tap | target-csv, {what}"
        result = self._finish(label, latency, run, got, names, TAP_CONCURRENCY, kind="pipe", mode=mode, parallel=2)
        result.alone = names == [BIG_STREAM] and self.streams != [BIG_STREAM]
        return result

    def _component(self, data: Path, mode: str, launcher: str, incremental: bool = False) -> tuple[Run, dict[str, int]]:
        """`python -m keboola_wrapper` on the data folder `data` (its config written here; `in/` as it is): the run
        and the rows of every CSV table it wrote. Its window ends tomorrow: the nightly case's changes carry the
        current time, which `date_to: today` (midnight) would leave to the next day's run."""
        until = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
        params = {
            "connection": {"url": self.sim.url, "username": "api_user", "#password": "s3cret-Pa55"},
            "data_selection": {
                "date_from": "2000-01-01",
                "date_to": until,
                "nested_objects": mode,
                "endpoints": [{"endpoint": ep} for ep in self.streams],
            },
            "destination": {"incremental": incremental},
            "advanced": {},
        }
        write_json(data / "config.json", {"parameters": params})
        env = {**tap_env(), "KBC_DATADIR": str(data), "KBC_DAKTELA_LAUNCHER": launcher}
        env.pop("KBC_RUNID", None)
        self.sim.command("reset")
        run = measure([sys.executable, "-m", "keboola_wrapper"], env=env, cwd=REPO)
        return run, csv_rows(data / "out" / "tables")

    def _component_concurrency(self) -> int:
        """Requests the component has in flight at most: its default budget, split among the pipelines at once."""
        from keboola_wrapper.translation import requests_share

        running = min(WRAPPER_PARALLEL, len(self.streams))
        return requests_share(TAP_CONCURRENCY, len(self.streams), WRAPPER_PARALLEL) * running

    def wrapper(self, latency: float, mode: str = "keys", launcher: str = "fork") -> Result:
        """The component end to end; `launcher="exec"` starts every tap and target as a fresh process."""
        with tempfile.TemporaryDirectory(prefix="bench-kbc-") as d:
            run, got = self._component(Path(d), mode, launcher)
        label = f"keboola_wrapper, {len(self.streams)} endpoints" + (
            ", no launcher (exec)" if launcher == "exec" else ""
        )
        return self._finish(
            label,
            latency,
            run,
            got,
            self.streams,
            self._component_concurrency(),
            kind="wrapper",
            mode=mode,
            launcher=launcher,
            parallel=CPUS,
        )

    def nightly(self, latency: float) -> list[Result]:
        """The nightly job: a whole read (incremental configuration, no state yet), a few changes in the simulator,
        then the incremental run from the first run's state. The second must bring every changed record."""
        conc = self._component_concurrency()
        n = len(self.streams)
        with tempfile.TemporaryDirectory(prefix="bench-nightly-") as d:
            data = Path(d)
            run, got = self._component(data, "keys", "fork", incremental=True)
            whole = self._finish(
                f"keboola_wrapper whole read, {n} endpoints (incremental config, no state)",
                latency,
                run,
                got,
                self.streams,
                conc,
                kind="whole",
                mode="keys",
                launcher="fork",
                parallel=CPUS,
            )
            (data / "in").mkdir(exist_ok=True)
            state = data / "out" / "state.json"
            had_state = state.exists()
            if had_state:
                shutil.copy(state, data / "in" / "state.json")
            shutil.rmtree(data / "out", ignore_errors=True)
            changed = {ep: keys for ep, keys in self.sim.mutate().items() if ep in self.streams}
            self.pages_by_endpoint = {ep: max(1, math.ceil(k / PAGE)) for ep, k in self.sim.totals.items()}
            run, got = self._component(data, "keys", "fork", incremental=True)
            missing = missing_keys(data / "out" / "tables", changed)
        counters = self.sim.command("counters")
        rows = sum(got.get(ep, 0) for ep in self.streams)
        n_changed = sum(len(keys) for keys in changed.values())
        ok = run.returncode == 0 and had_state and not missing and whole.ok
        note = "" if run.returncode == 0 else f"exit {run.returncode}: {_last_line(run.stderr)}"
        if missing:
            note = _join(note, f"changed records missing from the tables: {missing}")
        if not whole.ok:
            note = _join(note, "the whole read before it failed")
        if not had_state:
            note = _join(note, "the whole read wrote no out/state.json")
        self.checks.append(
            f"{'OK ' if ok else 'BAD'} keboola_wrapper incremental [keys] @ {latency:g} ms: {rows} rows, among them "
            f"every one of the {n_changed} records changed since the whole read: {'yes' if not missing else 'no'}"
            + (f" — {note}" if note else "")
        )
        incremental = Result(
            case=f"keboola_wrapper incremental, {n} endpoints, {n_changed} records changed",
            kind="incremental",
            mode="keys",
            launcher="fork",
            streams=n,
            latency=latency,
            records=rows,
            expected=rows,
            wall=run.wall,
            cpu=run.cpu,
            peak_tree=run.peak_tree,
            peak_max=run.peak_max,
            requests=counters["requests"],
            peak_in_flight=counters["peak_in_flight"],
            pages=n,
            concurrency=conc,
            bytes_sent=counters["bytes_sent"],
            ok=bool(ok),
            note=note,
            parallel=CPUS,
        )
        return [whole, incremental]

    def plan(self, cases: list[str], single: bool = True) -> list[tuple[str, Any]]:
        """(case, function of the latency) in table order: raw, tap, pipe, then the component's variants; with
        `single`, tap and pipe also read the big stream alone."""
        steps: list[tuple[str, Any]] = []
        alone = single and BIG_STREAM in self.streams and self.streams != [BIG_STREAM]
        big = [[BIG_STREAM]] if alone else []
        for case in ALL_CASES:
            if case not in cases:
                continue
            kind, mode, launcher = CASES[case]
            if kind == "raw":
                steps.append((case, self.raw))
            elif kind in ("tap", "pipe"):
                method = self.tap if kind == "tap" else self.pipe
                for streams in [*big, None]:
                    steps.append((case, lambda lat, m=method, s=streams, md=mode: m(lat, s, md)))
            elif kind == "nightly":
                steps.append((case, self.nightly))
            else:
                steps.append((case, lambda lat, md=mode, ln=launcher: self.wrapper(lat, md, ln)))
        return steps


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "no output"


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


# ------------------------------------------------------------------------------------------------ report


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f}"


def _mb1(n: float) -> str:
    """MiB with one decimal: what the simulator served differs by less than a MiB at small scales."""
    return f"{n / 2**20:,.1f}"


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


def _ratio(a: float, b: float, fmt: str = "{:.2f}") -> str:
    return fmt.format(a / b) if b else "-"


COLUMNS = (
    "| case | mode | latency ms | records | requests | MB served | CPU s | wall s | records/s | rate / raw "
    "| wall / raw | vs original | net floor s | CPU floor s | wall / max(floors) | peak RSS tree MB "
    "| peak RSS max proc MB | peak in-flight |"
)

LEGEND = """\
Columns:

- *case*: what ran. *raw floor*: `scripts.bench_raw`, one keep-alive connection, sequential GET + stdlib
  `json.loads` of every page of every endpoint, full records (no `fields[]`), nothing written. *tap > /dev/null*:
  `tap-daktela` alone (static token). *tap | target-csv*: the two piped as the component configures them.
  *keboola_wrapper*: `python -m keboola_wrapper` end to end (login, every endpoint, CSV tables and manifests),
  its taps and targets forked by its launcher, or started fresh with `KBC_DAKTELA_LAUNCHER=exec` (*no launcher*);
  *whole read* and *incremental*: the nightly case (see its table).
- *mode*: the tap's `nested_objects` (the component's `data_selection.nested_objects`): `keys` = references as key
  + title columns, asked for with dotted `fields[]`; `full` = embedded copies. The raw floor reads full records.
- *latency ms*: latency the simulator adds to every request.
- *records*: records out (tap: its `record_count` metrics; pipe and component: CSV data rows); ✗ = not the
  simulator's count for some endpoint (see the checks below).
- *requests*: HTTP requests the simulator answered, as measured: list pages plus logins, `whoim` and whatever
  the tap asks to learn about the instance (samples, probes).
- *MB served*: MiB of response bodies the simulator sent.
- *CPU s*: user + system seconds of the case's whole process tree (bash, tap, target, component, the forkserver
  and its children).
- *wall s*: elapsed seconds; *records/s*: records / wall.
- *rate / raw*: records/s over the raw floor's records/s at the same latency (above 1: faster than the floor).
- *wall / raw*: wall over the raw floor's wall at the same latency; `-` for a case that reads fewer streams.
- *vs original*: records/s over the original component's (939 at 0 ms, 745 at 200 ms).
- *net floor s*: requests x latency / concurrency (issue 19's network floor; raw 1; tap 10; the component its
  request budget split among the endpoints running at once, 3 x 3); `-` at 0 ms.
- *CPU floor s*: CPU s over the cores the case can use: one for a single process (raw, tap), two for tap and
  target, all {cpus} for the component. *wall / max(floors)*: wall over the larger of the CPU and network floors
  (1.00 = no idle core and no idle connection).
- *peak RSS tree MB*: peak of the summed RSS of the case's process tree; *peak RSS max proc MB*: of its largest
  process (both sampled every 50 ms; the simulator's process is not included).
- *peak in-flight*: most requests the simulator was serving at once."""

SIDE_LEGEND = """\
*keys* / *full*: the component with its launcher in each `nested_objects` mode; *keys, exec*: keys mode without
the launcher (`KBC_DAKTELA_LAUNCHER=exec`). *full / keys*: full mode's value over keys mode's. *launcher saving*:
CPU and wall of the exec variant minus the launcher's (keys mode), and that as a share of the exec variant's;
positive = the launcher saves. *records/s ÷ raw floor* and *wall ÷ raw wall*: over the raw floor of the same run
and latency."""


def _cell(r: Result, raw: Result | None) -> dict[str, float | None]:
    """The side-by-side table's measures of one result (None: not measurable)."""
    return {
        "requests": r.requests,
        "MB served": r.bytes_sent / 2**20,
        "CPU s": r.cpu,
        "wall s": r.wall,
        "records/s": r.rate,
        "records/s ÷ raw floor": r.rate / raw.rate if raw and raw.rate else None,
        "wall ÷ raw wall": r.wall / raw.wall if raw and raw.wall and raw.streams == r.streams else None,
    }


_SIDE_FORMAT = {
    "requests": "{:,.0f}",
    "MB served": "{:,.1f}",
    "CPU s": "{:.1f}",
    "wall s": "{:.1f}",
    "records/s": "{:,.0f}",
    "records/s ÷ raw floor": "{:.2f}",
    "wall ÷ raw wall": "{:.2f}",
}


def side_by_side(results: list[Result], latency: float) -> list[str]:
    """The component's variants at one latency, one column each, with full mode's and the launcher's effect."""
    raw = next((r for r in results if r.kind == "raw" and r.latency == latency), None)
    variants = {
        "keys": ("keys", "fork"),
        "full": ("full", "fork"),
        "keys, exec": ("keys", "exec"),
    }
    found = {
        name: next(
            (r for r in results if r.kind == "wrapper" and r.latency == latency and (r.mode, r.launcher) == key),
            None,
        )
        for name, key in variants.items()
    }
    if not any(found.values()):
        return []
    cells = {name: _cell(r, raw) if r else {} for name, r in found.items()}
    n = next(r for r in found.values() if r).streams
    lines = [
        f"Component side by side @ {latency:g} ms ({n} endpoints, the same simulator data):",
        "",
        "| measure | keys | full | keys, exec | full / keys | launcher saving (exec - keys) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for measure, fmt in _SIDE_FORMAT.items():
        values = [cells[name].get(measure) for name in variants]
        shown = [fmt.format(v) if v is not None else "-" for v in values]
        keys, full, exec_ = values
        ratio = f"{full / keys:.2f}" if keys and full is not None else "-"
        if measure in ("CPU s", "wall s") and keys is not None and exec_ is not None:
            saved = exec_ - keys
            saving = fmt.format(saved) + (f" ({saved / exec_:.0%})" if exec_ else "")
        else:
            saving = "-"
        lines.append(f"| {measure} | {' | '.join(shown)} | {ratio} | {saving} |")
    return [*lines, ""]


NIGHTLY_LEGEND = """\
*whole read*: the component's first run with `incremental: true` and no state: every stream read whole (what a
periodic whole read costs; a run with `incremental: false` reads the same). *incremental*: the next run, from the
first run's `out/state.json`, after a handful of records were inserted and updated in the simulator; its check
confirms every changed record is a row of its table. *requests per stream*: requests / streams (issue 19: at most
2 per stream plus a login and a `whoim` per run). *net floor*: requests x latency / the component's concurrency;
*wall ÷ max(floors)*: over the larger of that and CPU s / cores."""


def nightly_table(results: list[Result], latency: float) -> list[str]:
    """The nightly case at one latency: the whole read and the incremental run side by side."""
    whole = next((r for r in results if r.kind == "whole" and r.latency == latency), None)
    inc = next((r for r in results if r.kind == "incremental" and r.latency == latency), None)
    if whole is None or inc is None:
        return []
    measures: list[tuple[str, str, Any]] = [
        ("requests", "{:,.0f}", lambda r: r.requests),
        ("requests per stream", "{:.2f}", lambda r: r.requests / r.streams),
        ("records (rows written)", "{:,.0f}", lambda r: r.records),
        ("MB served", "{:,.1f}", lambda r: r.bytes_sent / 2**20),
        ("CPU s", "{:.1f}", lambda r: r.cpu),
        ("wall s", "{:.1f}", lambda r: r.wall),
        ("net floor s", "{:.2f}", lambda r: r.net_floor),
        ("wall ÷ net floor", "{:.2f}", lambda r: r.wall / r.net_floor if r.net_floor else None),
        ("wall ÷ max(floors)", "{:.2f}", lambda r: r.wall / r.bound if r.bound else None),
        ("peak RSS max proc MB", "{:.0f}", lambda r: r.peak_max / 2**20),
    ]
    lines = [
        f"Nightly run @ {latency:g} ms ({inc.streams} endpoints, concurrency {inc.concurrency}): "
        f"{inc.case.split(', ')[-1]} since the whole read.",
        "",
        "| measure | whole read | incremental | incremental / whole |",
        "|---|---:|---:|---:|",
    ]
    for name, fmt, get in measures:
        a, b = get(whole), get(inc)
        cells = [fmt.format(v) if v is not None else "-" for v in (a, b)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {_ratio(b, a) if a and b is not None else '-'} |")
    return [*lines, ""]


def goals_table(results: list[Result], scale: str) -> list[str]:
    """Issue 19's goals, each measured in this run, PASS or FAIL (n/a when the run lacks the case)."""
    rows: list[tuple[str, str, str, bool | None]] = []

    def find(kind: str, latency: float, **attrs: Any) -> Result | None:
        return next(
            (
                r
                for r in results
                if r.kind == kind and r.latency == latency and all(getattr(r, k) == v for k, v in attrs.items())
            ),
            None,
        )

    for latency in (0.0, 200.0):
        inc = find("incremental", latency)
        limit = 2 * inc.streams + 2 if inc else 0
        rows.append(
            (
                f"incremental run, few changes, {latency:g} ms: requests",
                f"{inc.requests} ({inc.requests / inc.streams:.2f} per stream)" if inc else "n/a",
                f"≤ 2 per stream + 2 = {limit}" if inc else "≤ 2 per stream + 2",
                inc.requests <= limit if inc else None,
            )
        )
    inc = find("incremental", 200.0)
    rows.append(
        (
            "incremental run, few changes, 200 ms: wall ÷ network floor",
            f"{inc.wall / inc.net_floor:.2f}x ({inc.wall:.1f} s vs {inc.net_floor:.2f} s)" if inc else "n/a",
            f"≤ {INCREMENTAL_WALL_GOAL}x",
            inc.wall <= INCREMENTAL_WALL_GOAL * inc.net_floor if inc else None,
        )
    )
    tap = find("tap", 200.0, mode="keys", alone=True)
    rows.append(
        (
            f"tap alone, {BIG_STREAM}, 200 ms, {TAP_CONCURRENCY} in flight: wall ÷ max(network floor, CPU)",
            f"{tap.wall / tap.bound:.2f}x ({tap.wall:.1f} s vs net {tap.net_floor:.1f} s, CPU {tap.cpu_floor:.1f} s)"
            if tap
            else "n/a",
            f"≤ {TAP_ALONE_GOAL}x",
            tap.wall <= TAP_ALONE_GOAL * tap.bound if tap else None,
        )
    )
    comp0 = find("wrapper", 0.0, mode="keys", launcher="fork")
    raw0 = find("raw", 0.0)
    rows.append(
        (
            "component end to end, every stream, keys, 0 ms: records/s ÷ raw floor's",
            f"{comp0.rate / raw0.rate:.2f}x" if comp0 and raw0 and comp0.streams == raw0.streams else "n/a",
            f"≥ {RAW_GOAL:g}x",
            comp0.rate >= RAW_GOAL * raw0.rate if comp0 and raw0 and comp0.streams == raw0.streams else None,
        )
    )
    comp200 = find("wrapper", 200.0, mode="keys", launcher="fork")
    rows.append(
        (
            "component end to end, every stream, keys, 200 ms: records/s ÷ the original component's",
            f"{comp200.rate / REFERENCE[200.0]:.2f}x" if comp200 else "n/a",
            f"≥ {ORIGINAL_GOAL:g}x",
            comp200.rate >= ORIGINAL_GOAL * REFERENCE[200.0] if comp200 else None,
        )
    )
    component = [r for r in results if r.kind in ("wrapper", "whole", "incremental") and r.mode == "keys"]
    peak = max((r.peak_max for r in component), default=0) / 2**20
    data = {"bench": "1x data", "bench10": "10x data"}.get(scale, f"scale {scale}")
    rows.append(
        (
            f"component, keys: peak RSS of the largest process, {data}",
            f"{peak:.0f} MB" if component else "n/a",
            f"< {MEMORY_GOAL_MB} MB",
            peak < MEMORY_GOAL_MB if component else None,
        )
    )
    other = "10x data (`--scale bench10`)" if scale != "bench10" else "1x data (`--scale bench`)"
    rows.append((f"component, keys: peak RSS of the largest process, {other}", "not in this run", "", None))
    lines = [
        f"Issue 19's goals, measured in this run (scale `{scale}`):",
        "",
        "| goal | measured | target | result |",
        "|---|---:|---:|---|",
    ]
    for goal, measured, target, passed in rows:
        verdict = "n/a" if passed is None else "PASS" if passed else "FAIL"
        lines.append(f"| {goal} | {measured} | {target} | {verdict} |")
    return lines


def render(
    results: list[Result],
    scale: str,
    totals: dict[str, int],
    checks: list[str],
    load: tuple[float, float],
    record_kb: dict[str, float] | None = None,
    mutated: bool = False,
) -> str:
    raw = {r.latency: r for r in results if r.kind == "raw"}
    read = sorted({r.streams for r in results})
    sizes = ", ".join(f"{ep} {kb:g} KB" for ep, kb in (record_kb or {}).items())
    lines = [
        f"Commit `{git_revision()}`.",
        f"Scale `{scale}`: {sum(totals.values()):,} records in {len(totals)} endpoints "
        f"({', '.join(f'{k}={v}' for k, v in totals.items())}); page size {PAGE}; {os.cpu_count()} CPUs; "
        f"1-min load average {load[0]:.2f} at start, {load[1]:.2f} at end (other work on the machine skews times).",
    ]
    if sizes:
        lines.append(f"Average record served without `fields[]` (real-size payloads): {sizes}.")
    if mutated:
        lines.append("The nightly case inserts a few records: cases after it read those too (counts checked).")
    if read and read[-1] != len(totals):
        lines.append(f"Cases limited to {read[-1]} of the {len(totals)} endpoints (`--streams`).")
    lines += ["", COLUMNS, "|---|---|" + "---:|" * (COLUMNS.count("|") - 3)]
    for r in results:
        floor = raw.get(r.latency)
        vs_raw = _ratio(r.rate, floor.rate) if floor else "-"
        wall_raw = _ratio(r.wall, floor.wall) if floor and floor.streams == r.streams else "-"
        ref = REFERENCE.get(r.latency)
        vs_ref = _ratio(r.rate, ref, "{:.2f}x") if ref else "-"
        net = f"{r.net_floor:.1f}" if r.latency else "-"
        records = f"{r.records:,}" + ("" if r.ok else " ✗")
        cpu_floor, bound = r.cpu_floor, r.bound
        lines.append(
            f"| {r.case.replace('|', chr(92) + '|')} | {r.mode} | {r.latency:g} | {records} | {r.requests:,} "
            f"| {_mb1(r.bytes_sent)} | {r.cpu:.1f} | {r.wall:.1f} | {r.rate:,.0f} | {vs_raw} | {wall_raw} | {vs_ref} "
            f"| {net} | {cpu_floor:.1f} | {_ratio(r.wall, bound)} | {_mb(r.peak_tree)} | {_mb(r.peak_max)} "
            f"| {r.peak_in_flight} |"
        )
    lines.append("")
    side: list[str] = []
    for latency in dict.fromkeys(r.latency for r in results):
        side += side_by_side(results, latency)
    if side:
        lines += [*side, SIDE_LEGEND, ""]
    night: list[str] = []
    for latency in dict.fromkeys(r.latency for r in results):
        night += nightly_table(results, latency)
    if night:
        lines += [*night, NIGHTLY_LEGEND, ""]
    lines += [*goals_table(results, scale), ""]
    lines += [
        LEGEND.format(cpus=CPUS),
        "",
        f"Reference: {REFERENCE_TEXT}.",
        "",
        "Record count checks (every endpoint's count against the simulator's):",
        "",
        *[f"- {c}" for c in checks],
    ]
    for r in results:
        if not r.ok:
            lines.append(f"- FAILED {r.case} [{r.mode}] @ {r.latency:g} ms: {r.note}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", default=None, help="simulator scale: small, demo, bench (default), bench10")
    p.add_argument("--latency", default=None, help="comma-separated simulated latencies in ms (default 0,200)")
    p.add_argument("--cases", default=",".join(ALL_CASES), help=f"subset of {','.join(ALL_CASES)} (default all)")
    p.add_argument("--streams", default=None, help="comma-separated endpoints every case reads (default all)")
    p.add_argument(
        "--quick", action="store_true", help="small scale, 0 ms, no activities-alone rows (a smoke run of every case)"
    )
    p.add_argument("--output", default=None, help="markdown file (default bench-output/latest.md; quick.md if --quick)")
    a = p.parse_args(argv)
    a.scale = a.scale or ("small" if a.quick else "bench")
    a.latencies = [float(x) for x in (a.latency or ("0" if a.quick else "0,200")).split(",") if x.strip()]
    a.case_list = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = set(a.case_list) - set(ALL_CASES)
    if unknown:
        p.error(f"unknown case(s) {sorted(unknown)}; choose from {','.join(ALL_CASES)}")
    a.stream_list = [s.strip() for s in (a.streams or "").split(",") if s.strip()] or None
    default_out = "bench-output/quick.md" if a.quick else "bench-output/latest.md"
    a.output = Path(a.output or REPO / default_out)
    return a


def check_endpoints(totals: dict[str, int], wanted: list[str] | None) -> list[str]:
    """The endpoints every case reads: the simulator must serve each of the tap's streams (else raw would miss
    some); `wanted` (--streams) must name some of them."""
    names = tap_streams()
    missing = sorted(set(names) - set(totals))
    if missing:
        raise SystemExit(f"the simulator serves no {missing}: the benchmark would not cover every stream")
    if not wanted:
        return names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise SystemExit(f"unknown stream(s) {unknown}; choose from {','.join(names)}")
    return [ep for ep in names if ep in wanted]


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    load_start = os.getloadavg()[0]
    print(f"starting simulator (scale {a.scale}) ...", file=sys.stderr, flush=True)
    sim = SimProcess(a.scale)
    totals = dict(sim.totals)  # the nightly case's changes add a few records; the header shows the data at start
    results: list[Result] = []
    try:
        bench = Bench(sim, a.scale, check_endpoints(sim.totals, a.stream_list))
        steps = bench.plan(a.case_list, single=not a.quick)
        for latency in a.latencies:
            sim.command(f"latency {latency}")
            for _, fn in steps:
                outcome = fn(latency)
                for r in outcome if isinstance(outcome, list) else [outcome]:
                    print(
                        f"  {r.case} [{r.mode}] @ {latency:g} ms: {r.records} records in {r.wall:.1f} s "
                        f"({r.rate:,.0f}/s), {r.cpu:.1f} CPU s, {r.requests} requests, {_mb1(r.bytes_sent)} MB "
                        f"served{'' if r.ok else '  FAILED: ' + r.note}",
                        file=sys.stderr,
                        flush=True,
                    )
                    results.append(r)
    finally:
        sim.close()
    report = render(
        results, a.scale, totals, bench.checks, (load_start, os.getloadavg()[0]), sim.record_kb, sim.totals != totals
    )
    sys.stdout.write(report)
    sys.stdout.flush()
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(report, encoding="utf-8")
    print(f"written to {a.output}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
