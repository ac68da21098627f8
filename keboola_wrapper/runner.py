"""Run one `tap-daktela | target-csv` pipeline per endpoint, a bounded number at once.

Each pipeline is two OS processes joined by a pipe, so a slow or huge stream never holds records in this
process: the target writes the CSV in bounded batches and only its last STATE line is kept here.

This is the only module that starts processes, and the only user of the launcher (`launcher.py`): `Pipelines`
owns the starter for one run, so the rest of the component never sees a process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_daktela.errors import ERROR_LINE_PREFIX

from .launcher import LaunchError, Process, Starter, Usage, new_starter
from .run_report import TAP_ENV, progress_text
from .translation import StreamPlan

log = logging.getLogger(__name__)

TARGET_BATCH_ROWS = 100  # rows target-csv holds before it appends; a flat activity row costs it ~150 KB


@dataclass
class PipelineResult:
    """Outcome of one endpoint's pipeline."""

    endpoint: str
    ok: bool
    csv_path: Path
    state: dict[str, Any] | None = None
    user_error: str | None = None  # the tap's one-line reason for a user-facing failure
    internal_error: str | None = None
    stderr_tail: list[str] = field(default_factory=list)
    usage: dict[str, Usage] = field(default_factory=dict)  # program -> CPU and peak memory, when known
    interrupted: bool = False  # still running when the run was interrupted: its table is not complete

    def cost(self) -> str:
        """`; CPU tap 1.2 s, target 2.0 s; peak RSS tap 61 MB, target 70 MB`, or nothing when unknown."""
        if not self.usage:
            return ""
        cpu = ", ".join(f"{name} {u.cpu_seconds:.1f} s" for name, u in self.usage.items())
        rss = ", ".join(f"{name} {u.max_rss_kb // 1024} MB" for name, u in self.usage.items())
        return f"; CPU {cpu}; peak RSS {rss}"


def target_settings(tables_dir: Path) -> dict[str, Any]:
    """target-csv settings: exactly `{stream}.csv` in out/tables, no metadata columns, bounded memory, no validation."""
    return {
        "output_path": str(tables_dir),
        "file_naming_scheme": "{stream_name}.csv",
        "overwrite_behavior": "replace_file",
        "add_record_metadata": False,
        "validate_records": False,
        "batch_size_rows": TARGET_BATCH_ROWS,
    }


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON readable only by this user: tap configs carry the token."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


class Redactor:
    """Removes secrets from any text that is about to be logged."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


STOP_GRACE_SECONDS = 4.0  # after SIGTERM, how long a child may take before it is killed (the tap needs < 2 s)


class Children:
    """The taps and targets running now, so that an interrupt of the run reaches every one of them.

    On an interrupt each running tap gets SIGTERM (it stops within 2 s); its target then reads the end of its
    input and exits. Whatever still runs `STOP_GRACE_SECONDS` later is killed. Targets are not signalled: the
    SDK's handler would make a target exit 0 as if its table were complete.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, tuple[Process, ...]] = {}
        self.signum: int | None = None  # the signal that interrupted the run

    @property
    def interrupted(self) -> bool:
        return self.signum is not None

    def add(self, endpoint: str, processes: tuple[Process, ...]) -> None:
        with self._lock:
            self._running[endpoint] = processes
            if self.interrupted:
                _send(processes[0], signal.SIGTERM)  # started as the interrupt came in

    def remove(self, endpoint: str) -> None:
        with self._lock:
            self._running.pop(endpoint, None)

    def stop(self, signum: int) -> None:
        """Signal every running tap now and kill whatever is left after the grace period."""
        with self._lock:
            if self.interrupted:
                return
            self.signum = signum
            for processes in self._running.values():
                _send(processes[0], signal.SIGTERM)
        killer = threading.Timer(STOP_GRACE_SECONDS, self._kill_the_rest)
        killer.daemon = True
        killer.start()

    def _kill_the_rest(self) -> None:
        with self._lock:
            for processes in self._running.values():
                for process in processes:
                    _send(process, signal.SIGKILL)


def _send(process: Process, signum: int) -> None:
    """Signal a child that may already have ended."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(process.pid, signum)


def _pump(stream, name: str, tail: deque, redact: Redactor, debug: bool) -> None:
    """Forward a child's stderr to the log (debug level unless debug mode) and keep its last lines."""
    for raw in stream:
        line = redact(raw.rstrip("\n"))
        tail.append(line)
        if debug:
            log.info("[%s] %s", name, line)
        elif progress := progress_text(line):  # a long stream's progress shows outside debug mode too
            log.info("[%s] %s", name, progress)
        else:
            log.debug("[%s] %s", name, line)
    stream.close()


def run_pipeline(
    plan: StreamPlan,
    work_dir: Path,
    tables_dir: Path,
    redact: Redactor,
    starter: Starter,
    debug: bool = False,
    children: Children | None = None,
) -> PipelineResult:
    """Run `tap-daktela --config --catalog [--state] | target-csv --config` for one endpoint and wait for both."""
    ep = plan.endpoint
    base = work_dir / ep
    base.mkdir(parents=True, exist_ok=True)
    tap_cfg, catalog, state_file, target_cfg = (
        base / name for name in ("tap-config.json", "catalog.json", "state.json", "target-config.json")
    )
    write_private_json(tap_cfg, plan.tap_config)
    write_private_json(catalog, plan.catalog)
    write_private_json(target_cfg, target_settings(tables_dir))
    tap_args = ["--config", str(tap_cfg), "--catalog", str(catalog)]
    if plan.state:
        write_private_json(state_file, plan.state)
        tap_args += ["--state", str(state_file)]

    env = dict(os.environ)
    level = "DEBUG" if debug else "INFO"
    # target-csv logs every batch (and METRIC lines) at INFO: outside debug mode only its warnings, so the kept
    # tail of its output is the reason when it fails; the tap writes its summary as one JSON line (`run_report`)
    env.update({"TAP_DAKTELA_LOGLEVEL": level, "TARGET_CSV_LOGLEVEL": level if debug else "WARNING", **TAP_ENV})
    csv_path = tables_dir / f"{ep}.csv"

    records_read, records_write = os.pipe()  # tap stdout -> target stdin
    tap_err_read, tap_err_write = os.pipe()
    state_read, state_write = os.pipe()  # target stdout: its STATE lines
    target_err_read, target_err_write = os.pipe()
    started: list[Process] = []
    try:
        with open(os.devnull, "rb") as nothing:
            started.append(
                starter.start(
                    "tap-daktela",
                    tap_args,
                    stdin=nothing.fileno(),
                    stdout=records_write,
                    stderr=tap_err_write,
                    env=env,
                    cwd=base,
                )
            )
        started.append(
            starter.start(
                "target-csv",
                ["--config", str(target_cfg)],
                stdin=records_read,
                stdout=state_write,
                stderr=target_err_write,
                env=env,
                cwd=base,
            )
        )
    except BaseException:
        for process in started:
            process.kill()
            process.wait()
        for fd in (tap_err_read, state_read, target_err_read):
            os.close(fd)
        raise
    finally:  # the children own these ends now; the tap gets SIGPIPE if the target dies
        for fd in (records_read, records_write, tap_err_write, state_write, target_err_write):
            os.close(fd)
    tap, target = started
    children = children or Children()
    children.add(ep, (tap, target))

    tap_tail: deque[str] = deque(maxlen=30)
    target_tail: deque[str] = deque(maxlen=30)
    pumps = [
        threading.Thread(target=_pump, args=(_text(tap_err_read), f"{ep}/tap", tap_tail, redact, debug), daemon=True),
        threading.Thread(
            target=_pump, args=(_text(target_err_read), f"{ep}/target", target_tail, redact, debug), daemon=True
        ),
    ]
    for pump in pumps:
        pump.start()

    last_state: dict[str, Any] | None = None
    with _text(state_read) as target_stdout:
        for line in target_stdout:  # target-csv prints each flushed STATE as one JSON line; keep only the last
            line = line.strip()
            if line.startswith("{"):
                try:
                    last_state = json.loads(line)
                except ValueError:
                    log.debug("[%s] ignoring non-JSON target output", ep)
    tap_rc = tap.wait()
    target_rc = target.wait()
    children.remove(ep)
    for pump in pumps:
        pump.join()

    result = PipelineResult(ep, ok=False, csv_path=csv_path, state=last_state, stderr_tail=list(tap_tail))
    result.usage = {name: p.usage for name, p in (("tap", tap), ("target", target)) if p.usage is not None}
    if children.interrupted:  # whatever the exit codes say, a pipeline running at the interrupt is not complete
        result.interrupted = True
        result.internal_error = f"interrupted by {signal.Signals(children.signum).name}"  # type: ignore[arg-type]
        return result
    if tap_rc == 0 and target_rc == 0:
        result.ok = True
        return result
    user_lines = [line for line in tap_tail if line.startswith(ERROR_LINE_PREFIX)]
    if tap_rc == 1 and user_lines:
        result.user_error = user_lines[-1][len(ERROR_LINE_PREFIX) :].strip()
    elif target_rc != 0:  # checked before the tap: a dead target breaks the tap's pipe, so the tap fails too
        result.internal_error = f"target-csv exited with code {target_rc}: {_last(target_tail)}"
        result.stderr_tail = list(target_tail)
    else:
        result.internal_error = f"tap-daktela exited with code {tap_rc}: {_last(tap_tail)}"
    return result


def _text(fd: int):
    """A child's output pipe as text lines (bad bytes replaced, never an error)."""
    return open(fd, encoding="utf-8", errors="replace")


def _last(lines: Iterable[str]) -> str:
    lines = [line for line in lines if line.strip()]
    return lines[-1] if lines else "no error output"


def run_all(
    plans: list[StreamPlan],
    max_parallel: int,
    run_one: Callable[[StreamPlan], PipelineResult],
    children: Children | None = None,
) -> list[PipelineResult]:
    """Run the pipelines, at most `max_parallel` at once; after a failure or an interrupt, pipelines not yet
    started are skipped.

    Threads only wait on child processes here; the work happens in the tap and target processes.
    """
    results: list[PipelineResult] = []
    failed = threading.Event()
    children = children or Children()

    def guarded(plan: StreamPlan) -> PipelineResult | None:
        if failed.is_set() or children.interrupted:
            return None
        log.info("Extracting endpoint '%s'", plan.endpoint)
        started = time.monotonic()
        res = run_one(plan)
        if not res.ok:
            failed.set()
        outcome = "done" if res.ok else "interrupted" if res.interrupted else "failed"
        log.info("Endpoint '%s' %s in %.1f s%s", plan.endpoint, outcome, time.monotonic() - started, res.cost())
        return res

    with ThreadPoolExecutor(max_workers=max(1, max_parallel), thread_name_prefix="pipeline") as pool:
        futures = [pool.submit(guarded, plan) for plan in plans]
        for future in as_completed(futures):
            res = future.result()
            if res is not None:
                results.append(res)
    order = {p.endpoint: i for i, p in enumerate(plans)}
    return sorted(results, key=lambda r: order[r.endpoint])


class Pipelines:
    """The pipelines of one run and the starter of their processes.

    Created first thing in a run, so that the launcher imports the tap and the target while the component logs
    in and discovers the catalog; `KBC_DAKTELA_LAUNCHER=exec` starts plain subprocesses instead.
    """

    def __init__(self, *, debug: bool = False) -> None:
        self.debug = debug
        self._starter: Starter = new_starter()
        self.children = Children()

    def interrupt(self, signum: int) -> None:
        """Stop the run: every running tap gets SIGTERM, no further pipeline starts (see `Children`)."""
        self.children.stop(signum)

    @property
    def interrupted_by(self) -> int | None:
        """The signal that interrupted the run, if one did."""
        return self.children.signum

    def __enter__(self) -> Pipelines:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._starter.close()

    def run(
        self, plans: list[StreamPlan], max_parallel: int, tables_dir: Path, redact: Redactor
    ) -> list[PipelineResult]:
        """Run every plan's pipeline into `tables_dir`; settings files live in a private temporary folder."""
        with tempfile.TemporaryDirectory(prefix="kbc-daktela-") as work:

            def run_one(plan: StreamPlan) -> PipelineResult:
                try:
                    return run_pipeline(plan, Path(work), tables_dir, redact, self._starter, self.debug, self.children)
                except LaunchError as exc:
                    return PipelineResult(
                        plan.endpoint, ok=False, csv_path=tables_dir / f"{plan.endpoint}.csv", internal_error=str(exc)
                    )

            return run_all(plans, max_parallel, run_one, self.children)
