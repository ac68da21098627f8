"""Keboola Connection component: runs tap-daktela through target-csv, one pipeline per endpoint.

Data flows one way: config.json -> Config -> login -> catalog (discovered in this process by the tap's own
code, with the run's one token) -> tap config + catalog per endpoint -> pipelines -> CSV files -> manifests and
out/state.json. This module only orders those steps; each lives in its own module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from keboola.component.base import ComponentBase, sync_action
from keboola.component.exceptions import UserException
from keboola.component.sync_actions import MessageType, ValidationResult

from tap_daktela.auth import current_user, login, whoim
from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME
from tap_daktela.errors import DaktelaError
from tap_daktela.instance_facts import InstanceFacts, with_facts

from . import run_report, tables, translation
from .configuration import PEM_START, Config, ConfigError, parse_config, parse_selection
from .runner import PipelineResult, Pipelines, Redactor
from .translation import StreamPlan

log = logging.getLogger(__name__)

FIELDS_LOGIN_TIMEOUT = 10  # seconds per login attempt of listFields, which must answer within 30 s


class InternalError(Exception):
    """A failure the user cannot fix (exit code 2)."""


class RunInterrupted(Exception):
    """SIGINT or SIGTERM stopped the run; exit code 128 + the signal's number, as a shell reports it."""

    def __init__(self, signum: int, complete: list[str], incomplete: list[str]) -> None:
        name = signal.Signals(signum).name
        super().__init__(
            f"Interrupted by {name}: complete: {', '.join(complete) or 'none'}; not complete (no table, no state "
            f"saved for them): {', '.join(incomplete) or 'none'}."
        )
        self.exit_code = 128 + signum


@contextlib.contextmanager
def _interrupts_stop(pipelines: Pipelines) -> Iterator[dict[str, bool]]:
    """SIGINT/SIGTERM (a cancelled or timed-out job) stop every child at once; before the pipelines start, the run.

    The handlers stay for the whole run: the tap's discovery, built in this process, keeps them too."""
    started = {"pipelines": False}
    if threading.current_thread() is not threading.main_thread():
        yield started
        return

    def handle(signum: int, frame: Any) -> None:
        pipelines.interrupt(signum)
        if not started["pipelines"]:
            raise RunInterrupted(signum, [], [])

    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in saved:
        signal.signal(signum, handle)
    try:
        yield started
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _daktela_errors_as_user_errors() -> Iterator[None]:
    """Daktela errors (bad credentials, unreachable, no rights) are one clean line without secrets: exit 1."""
    try:
        yield
    except DaktelaError as exc:
        raise UserException(str(exc)) from None


@contextlib.contextmanager
def ca_bundle_file(config: Config) -> Iterator[str | None]:
    """The path of the configured CA bundle: PEM text goes to a private (0600) temporary file for the run."""
    bundle = config.ca_bundle
    if not bundle or not config.verify_ssl:
        yield None
        return
    if not bundle.startswith(PEM_START):
        if not Path(bundle).is_file():
            raise ConfigError(
                f"Invalid configuration: 'connection.ca_bundle' is neither PEM text (starting with '{PEM_START}') "
                f"nor an existing file: '{bundle[:80]}'."
            )
        yield bundle
        return
    fd, path = tempfile.mkstemp(prefix="kbc-daktela-ca-", suffix=".pem")  # created with mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(bundle if bundle.endswith("\n") else bundle + "\n")
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _verify(config: Config, ca_path: str | None) -> bool | str:
    """What `requests` takes as `verify`: off, the CA bundle's path, or the system's CAs."""
    return False if not config.verify_ssl else (ca_path or True)


def _login(config: Config, ca_path: str | None, **retry: Any) -> str:
    """Log in once; discovery and every tap reuse the token."""
    with _daktela_errors_as_user_errors():
        return login(config.url, config.username, config.password, verify_ssl=_verify(config, ca_path), **retry)


def _instance_timezone(config: Config, token: str, ca_path: str | None) -> str | None:
    """The instance's `_timezone`, read once here so the taps need not each ask `whoim` again."""
    with _daktela_errors_as_user_errors():
        return whoim(config.url, token, verify_ssl=_verify(config, ca_path)).get("_timezone")


def discover(
    settings: dict[str, Any], endpoints: list[str] | None = None, learned: dict[str, InstanceFacts] | None = None
) -> dict[str, dict[str, Any]]:
    """The catalog, discovered in this process by the tap itself (live for `endpoints`, all when None, when
    `settings` hold a token; else the static schemas), indexed by stream. `learned` gets what the discovery saw
    of the instance, for the taps' states (`instance_facts`)."""
    from tap_daktela.tap import TapDaktela  # imports singer-sdk: only when a catalog is needed

    # Nothing of discovery belongs on stdout, which a sync action keeps for its JSON answer (the library even
    # sets it to None meanwhile, and the tap's message writer takes stdout's buffer when it is created).
    with _daktela_errors_as_user_errors(), open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        tap = TapDaktela(config=settings, parse_env_config=False, validate_config=True, discover=endpoints)
        if learned is not None:
            learned.update(tap.learned_facts)
        return translation.plain_catalog(tap.catalog_dict)


def _remove_partial_table(csv_path: Path) -> None:
    """Remove what a failed pipeline wrote, so no half table looks complete; never hide the failure's reason."""
    for leftover in (csv_path, csv_path.with_suffix(".csv.tmp")):
        try:
            if leftover.is_file():
                leftover.unlink()
        except OSError as exc:
            log.warning("Could not remove the partial table %s: %s", leftover, exc)


def _expected_columns(plan: StreamPlan, earlier: dict[str, Any]) -> list[str]:
    """The table's columns before it is read: this run's flat schema plus the columns earlier runs wrote."""
    current = tables.sanitize_columns(translation.flat_schema(plan.schema)["properties"])
    return tables.merge_columns(current, list(earlier.get("columns") or []))


class Component(ComponentBase):
    """Daktela extractor: validated config in, one CSV table per endpoint out."""

    def _config(self, *, require_endpoints: bool = True) -> Config:
        return parse_config(self.configuration.parameters, require_endpoints=require_endpoints)

    def run(self) -> None:
        """Validate, log in once, discover, run the pipelines, then write manifests and state for finished tables."""
        config = self._config()
        with (
            Pipelines(debug=config.debug) as pipelines,
            _interrupts_stop(pipelines) as phase,
            ca_bundle_file(config) as ca_path,
        ):
            self._run(config, pipelines, ca_path, phase)

    def _run(self, config: Config, pipelines: Pipelines, ca_path: str | None, phase: dict[str, bool]) -> None:
        token = _login(config, ca_path)
        timezone = _instance_timezone(config, token, ca_path)
        learned: dict[str, InstanceFacts] = {}  # handed to each tap in its state: it need not learn them again
        catalog = discover(  # its samples are requests too: within the run's budget
            {
                **translation.connection_settings(config, token, timezone, ca_path),
                "max_concurrent_requests": config.max_concurrent_requests,
            },
            [s.endpoint for s in config.endpoints],
            learned,
        )
        previous = self.get_state_file() or {}
        share = translation.requests_share(
            config.max_concurrent_requests, len(config.endpoints), config.max_concurrent_endpoints
        )
        plans = []
        for selection in config.endpoints:
            if selection.endpoint not in catalog:
                raise InternalError(f"The tap did not describe the endpoint '{selection.endpoint}'.")
            plan = translation.plan_stream(
                config, selection, catalog[selection.endpoint], token, share, previous, timezone, ca_path
            )
            plan = replace(plan, state=with_facts(plan.state, plan.endpoint, learned.get(plan.endpoint)))
            earlier = (previous.get("tables") or {}).get(plan.endpoint) or {}
            missing = tables.missing_columns(plan.primary_key, _expected_columns(plan, earlier))
            if missing:
                raise ConfigError(
                    f"Invalid configuration: primary key column '{missing[0]}' of endpoint '{plan.endpoint}' is not "
                    f"a column of its table (columns: {', '.join(_expected_columns(plan, earlier))})."
                )
            plans.append(plan)

        redact = Redactor([config.password, token])
        tables_dir = Path(self.tables_out_path)
        tables_dir.mkdir(parents=True, exist_ok=True)
        full_loads = [p.endpoint for p in plans if ENDPOINTS_BY_NAME[p.endpoint].replaces_table(p.primary_key)]
        if config.incremental and full_loads:
            log.info("Loaded in full whatever the load type (they are read whole every run): %s", ", ".join(full_loads))
        phase["pipelines"] = True
        results = pipelines.run(plans, config.max_concurrent_endpoints, tables_dir, redact)

        by_endpoint = {p.endpoint: p for p in plans}
        failures = [r for r in results if not r.ok]
        finished: dict[str, dict[str, Any]] = {}
        bookmarks: dict[str, Any] = {}
        done = {result.endpoint: result for result in results if result.ok}
        for result in results:
            if result.ok:
                finished[result.endpoint] = self._publish(result, by_endpoint[result.endpoint], config, previous)
                bookmarks[result.endpoint] = ((result.state or {}).get("bookmarks") or {}).get(result.endpoint)
            else:
                _remove_partial_table(result.csv_path)

        if pipelines.interrupted_by is not None:
            self.write_state_file(tables.merge_state(previous, bookmarks, finished))  # complete endpoints only
            incomplete = [p.endpoint for p in plans if p.endpoint not in finished]
            raise RunInterrupted(pipelines.interrupted_by, list(finished), incomplete)
        if failures:
            self._fail(failures, skipped=len(plans) - len(results))
        self.write_state_file(tables.merge_state(previous, bookmarks, finished))
        rows = {endpoint: run_report.csv_rows(result.csv_path) for endpoint, result in done.items()}
        for endpoint, result in done.items():
            tally = run_report.tap_tally(result.stderr_tail, endpoint)
            log.info("%s", run_report.endpoint_line(endpoint, rows[endpoint], tally))
        log.info("%s", run_report.total_line(rows))

    def _publish(
        self, result: PipelineResult, plan: StreamPlan, config: Config, previous: dict[str, Any]
    ) -> dict[str, Any]:
        """Fix the CSV's columns (names, kept columns) and write its manifest; return the table's state entry.

        A stream that sent no SCHEMA at all (e.g. a channel the instance does not have) gets a header-only table
        with the columns of its schema.
        """
        earlier = (previous.get("tables") or {}).get(plan.endpoint) or {}
        flat = translation.flat_schema(plan.schema)
        types = {**(earlier.get("types") or {}), **tables.column_types(flat)}
        if result.csv_path.exists():
            raw = tables.read_header(result.csv_path)
        else:
            raw = list(flat["properties"])
            tables.write_empty_csv(result.csv_path, raw)
        columns = tables.merge_columns(
            tables.sanitize_columns(raw, table=plan.endpoint), list(earlier.get("columns") or [])
        )
        tables.finalize_csv(result.csv_path, raw, columns)
        primary_key = tables.sanitize_columns(plan.primary_key)
        incremental = config.incremental and not ENDPOINTS_BY_NAME[plan.endpoint].replaces_table(plan.primary_key)
        tables.write_table_manifest(self, plan.endpoint, columns, types, primary_key, incremental)
        return {"columns": columns, "types": {c: types.get(c, "STRING") for c in columns}}

    def _fail(self, failures: list[PipelineResult], skipped: int) -> None:
        """Raise the first failure's reason: a user error (exit 1) or an internal one (exit 2)."""
        first = failures[0]
        others = len(failures) - 1 + skipped
        suffix = f" ({others} other endpoint(s) failed or were not run)" if others else ""
        if first.user_error:
            raise UserException(f"Endpoint '{first.endpoint}' failed: {first.user_error}{suffix}")
        for line in first.stderr_tail[-15:]:  # the crash's traceback, already redacted
            log.error("[%s] %s", first.endpoint, line)
        raise InternalError(f"Endpoint '{first.endpoint}' failed: {first.internal_error}{suffix}")

    @sync_action("listFields")
    def list_fields(self) -> dict[str, list[str]]:
        """Field names of the configured endpoints (all endpoints when none), live from the instance."""
        return self._fields()

    @sync_action("discoverFields")
    def discover_fields(self) -> dict[str, list[str]]:
        """Alias of listFields (the production component's button name)."""
        return self._fields()

    def _fields(self) -> dict[str, list[str]]:
        """Live field names (top-level fields, custom fields as `customFields.<name>`) after one login; without
        credentials or a reachable instance, the static schemas' names with a warning."""
        params = self.configuration.parameters or {}
        selections = parse_selection(params)
        names = [s.endpoint for s in selections] or [e.name for e in ENDPOINTS]
        catalog = self._live_catalog(params, [s.endpoint for s in selections] or None)
        if catalog is None:
            catalog = discover({"url": "https://instance.invalid"})
        return {name: translation.field_names(catalog[name]) for name in names if name in catalog}

    def _live_catalog(self, params: dict[str, Any], endpoints: list[str] | None) -> dict[str, dict[str, Any]] | None:
        try:
            config = parse_config(params, require_endpoints=False)
            with ca_bundle_file(config) as ca_path:
                token = _login(config, ca_path, timeout=FIELDS_LOGIN_TIMEOUT, max_tries=2)
                timezone = _instance_timezone(config, token, ca_path)
                return discover(translation.connection_settings(config, token, timezone, ca_path), endpoints)
        except UserException as exc:
            # a sync action mutes logging and keeps stdout for its JSON answer: the warning goes to stderr
            print(f"Warning: listing the static fields; could not read the instance's own: {exc}", file=sys.stderr)
            return None

    @sync_action("testConnection")
    def test_connection(self) -> ValidationResult:
        """Log in and ask who we are; the message names the user so a wrong account is obvious."""
        config = self._config(require_endpoints=False)
        with ca_bundle_file(config) as ca_path:
            token = _login(config, ca_path)
            with _daktela_errors_as_user_errors():
                user = current_user(config.url, token, verify_ssl=_verify(config, ca_path)) or {}
        who = user.get("title") or user.get("name") or config.username
        return ValidationResult(f"Connected to {config.url} as {who}.", MessageType.SUCCESS)
