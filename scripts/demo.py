"""`make demo`: the whole product on this machine, against a local Daktela simulator with a realistic data set.

1. starts the simulator (scale "demo": a few thousand tickets, activities, contacts, ...) on 127.0.0.1,
2. runs the Keboola component (`python -m keboola_wrapper`) on a copy of `demo/keboola-data`,
3. runs `meltano run tap-daktela target-csv` with the project's meltano.yml, then edits a few tickets in the
   simulator and runs it again: the second run continues from Meltano's state and reads only the changes,
4. prints what was extracted and where the CSV files are, and the live agent state (`realtimeSessions`, a
   snapshot per run) joined to the users table.

Everything is written under `demo-output/` (git-ignored); the repository's own `.meltano/` only gets the plugin
venvs that `meltano run` installs on first use.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.simulator import DaktelaSimulator

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT = REPO / "demo-output"
SAMPLE = REPO / "demo" / "keboola-data"
USERNAME, PASSWORD = "api_user", "s3cret-Pa55"

csv.field_size_limit(sys.maxsize)

# Lines of the tools' logs worth showing as progress (everything goes to the log files).
MELTANO_PROGRESS = re.compile(
    r"(Installing \w+|Installed \w+|No state was found|Found state|Incremental state has been updated"
    r"|Run completed|Block run completed|\[error|ERROR|Error)"
)
RUN_TIMESTAMP = re.compile(r"-\d{4}-\d{2}-\d{2}\.T\d{6}$")  # meltano.yml names each run's file <stream>-<timestamp>
METRIC = re.compile(r'METRIC: (\{.*"record_count".*\})')
SUMMARY = re.compile(r"\|\s+(\w+): (\d+) records?, \d+ requests?, ")  # the tap's run summary, a line per stream


def say(message: str = "") -> None:
    print(message, flush=True)


def run_logged(
    command: list[str], *, cwd: Path, env: dict[str, str], log_file: Path, show, started: float
) -> tuple[int, list[str]]:
    """Run `command`, keep its whole output in `log_file`, echo the lines `show(line)` turns into a message."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    with log_file.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            lines.append(line.rstrip("\n"))
            message = show(line.rstrip("\n"))
            if message:
                say(f"  [{time.monotonic() - started:5.1f}s] {message}")
        return process.wait(), lines


def table_summary(folder: Path) -> list[tuple[str, int, int]]:
    """(table, data rows, columns) of every CSV in `folder`, read as CSV (cells may hold newlines)."""
    summary = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            rows = sum(1 for _ in reader)
        summary.append((RUN_TIMESTAMP.sub("", path.stem), rows, len(header)))  # meltano: <stream>-<timestamp>.csv
    return summary


def print_tables(summary: list[tuple[str, int, int]]) -> None:
    width = max((len(name) for name, _, _ in summary), default=5)
    say(f"    {'table':<{width}}  {'rows':>7}  {'columns':>7}")
    for name, rows, columns in summary:
        say(f"    {name:<{width}}  {rows:>7,}  {columns:>7}")
    say(f"    {'total':<{width}}  {sum(rows for _, rows, _ in summary):>7,}")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def print_agent_state(tables: Path) -> None:
    """The realtimeSessions snapshot: one row per logged-in agent, all with the run's `snapshot_time`; `id_agent`
    is the agent's login name, so it joins users.csv."""
    sessions, users = tables / "realtimeSessions.csv", tables / "users.csv"
    if not sessions.exists() or not users.exists():
        return
    rows = read_rows(sessions)
    titles = {user["name"]: user["title"] for user in read_rows(users)}
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    taken = sorted({row["snapshot_time"] for row in rows})
    say(f"\n  Live agent state (realtimeSessions): {len(rows)} agents logged in, snapshot taken {', '.join(taken)}")
    say("    " + ", ".join(f"{state}: {count}" for state, count in sorted(states.items())))
    for row in rows[:5]:
        agent = f"{titles.get(row['id_agent'], '? (not in users.csv)')} ({row['id_agent']})"
        pause = f", pause {row['id_pause_title']}" if row.get("id_pause_title") else ""
        say(f"    {agent:<36} {row['state']:<8} since {row['statetime']}{pause}")


def fail(step: str, log_file: Path, lines: list[str]) -> int:
    say(f"\n{step} failed; last lines of {log_file.relative_to(REPO)}:")
    for line in lines[-25:]:
        say(f"  {line}")
    return 1


def keboola_step(sim: DaktelaSimulator, env: dict[str, str]) -> tuple[float, list[tuple[str, int, int]]] | None:
    data = OUT / "keboola-data"
    shutil.copytree(SAMPLE, data)
    config_file = data / "config.json"
    config = json.loads(config_file.read_text())
    config["parameters"]["connection"]["url"] = sim.url
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    endpoints = [item["endpoint"] for item in config["parameters"]["data_selection"]["endpoints"]]
    say(f"\n[2/3] Keboola component: python -m keboola_wrapper, KBC_DATADIR={data.relative_to(REPO)}")
    say(f"      {len(endpoints)} endpoints, {config['parameters']['advanced']['max_concurrent_endpoints']} at a time")

    started = time.monotonic()
    log_file = OUT / "logs" / "keboola_wrapper.log"
    code, lines = run_logged(
        [sys.executable, "-m", "keboola_wrapper"],
        cwd=REPO,
        env=env | {"KBC_DATADIR": str(data)},
        log_file=log_file,
        show=lambda line: line if line.startswith(("Extracting", "Extracted", "Endpoint")) else None,
        started=started,
    )
    if code != 0:
        fail("The Keboola component", log_file, lines)
        return None
    return time.monotonic() - started, table_summary(data / "out" / "tables")


def meltano_step(env: dict[str, str], output: Path, label: str) -> tuple[float, list[tuple[str, int, int]]] | None:
    started = time.monotonic()
    log_file = OUT / "logs" / f"meltano-{label}.log"

    def show(line: str) -> str | None:
        summary = SUMMARY.search(line)
        if summary and "tap-daktela" in line:
            return f"tap-daktela  {summary.group(1)}: {int(summary.group(2)):,} records"
        metric = METRIC.search(line)
        if metric:  # the tap's record counter: one per stream when it ends (and every minute on long streams)
            data = json.loads(metric.group(1))
            stream = data.get("tags", {}).get("stream")
            if "tap-daktela" in line and stream:
                return f"tap-daktela  {stream}: {int(data.get('value', 0)):,} records"
            return None
        if MELTANO_PROGRESS.search(line):
            text = re.sub(r"^\S+Z \[\w+\s*\] ", "", line).strip()
            return re.sub(r"\s+", " ", text)[:150]
        return None

    code, lines = run_logged(
        [str(BIN / "meltano"), "run", "tap-daktela", "target-csv"],
        cwd=REPO,
        env=env | {"TARGET_CSV_OUTPUT_PATH": str(output)},
        log_file=log_file,
        show=show,
        started=started,
    )
    if code != 0:
        fail(f"meltano run ({label})", log_file, lines)
        return None
    return time.monotonic() - started, table_summary(output)


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    say("[1/3] Starting the local Daktela simulator (scale 'demo') ...")
    with DaktelaSimulator(seed=1, scale="demo", username=USERNAME, password=PASSWORD) as sim:
        sizes = {ep: len(table.entries) for ep, table in sim.tables.items()}
        say(f"      {sim.url}  ({sum(sizes.values()):,} records in {len(sizes)} endpoints, user {USERNAME})")
        env = {key: value for key, value in os.environ.items() if not key.startswith(("MELTANO_", "TAP_DAKTELA"))}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"

        keboola = keboola_step(sim, env)
        if keboola is None:
            return 1

        meltano_out = OUT / "meltano"
        meltano_env = env | {
            "DAKTELA_URL": sim.url,
            "DAKTELA_USERNAME": USERNAME,
            "DAKTELA_PASSWORD": PASSWORD,
            # The demo's own Meltano state, so it neither reads nor changes the project's .meltano/meltano.db.
            "MELTANO_DATABASE_URI": f"sqlite:///{meltano_out / 'meltano.db'}",
        }
        meltano_out.mkdir(parents=True)
        say("\n[3/3] Meltano: meltano run tap-daktela target-csv (plugins are installed on first use)")
        full = meltano_step(meltano_env, meltano_out / "full", "full")
        if full is None:
            return 1
        changed = sorted(sim.records("tickets"), key=lambda record: record["edited"])[:5]
        for record in changed:
            sim.update("tickets", record["name"])
        sim.insert("tickets", 2)
        say("      edited 5 tickets and added 2 in the simulator; running again from Meltano's state ...")
        incremental = meltano_step(meltano_env, meltano_out / "incremental", "incremental")
        if incremental is None:
            return 1

    keboola_seconds, keboola_tables = keboola
    say("\n" + "=" * 78)
    say(f"Keboola component: {keboola_seconds:.1f}s, {len(keboola_tables)} tables")
    print_tables(keboola_tables)
    say(f"  CSVs + manifests: {(OUT / 'keboola-data' / 'out' / 'tables').relative_to(REPO)}/")
    say(f"  Keboola state:    {(OUT / 'keboola-data' / 'out' / 'state.json').relative_to(REPO)}")
    print_agent_state(OUT / "keboola-data" / "out" / "tables")
    full_seconds, full_tables = full
    full_rows = sum(rows for _, rows, _ in full_tables)
    say(f"\nMeltano, first run: {full_seconds:.1f}s, {len(full_tables)} tables, {full_rows:,} rows")
    say(f"  CSVs: {(meltano_out / 'full').relative_to(REPO)}/")
    incremental_seconds, incremental_tables = incremental
    tickets = next((rows for name, rows, _ in incremental_tables if name == "tickets"), 0)
    say(
        f"Meltano, second run from state: {incremental_seconds:.1f}s, tickets.csv has {tickets} rows "
        "(the 7 changed tickets, plus any sitting on the bookmark; full-table streams are read in full)"
    )
    say(f"  CSVs: {(meltano_out / 'incremental').relative_to(REPO)}/")
    say(f"  state: MELTANO_DATABASE_URI=sqlite:///{(meltano_out / 'meltano.db').relative_to(REPO)} meltano state list")
    say(f"\nLogs: {(OUT / 'logs').relative_to(REPO)}/    Total time: {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
