"""Keboola Connection component: runs tap-daktela through target-csv, one pipeline per endpoint.

Data flows one way: config.json -> Config -> tap config + catalog per endpoint -> processes -> CSV files ->
manifests and out/state.json. This module only orders those steps; each lives in its own module.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from keboola.component.base import ComponentBase, sync_action
from keboola.component.exceptions import UserException
from keboola.component.sync_actions import MessageType, ValidationResult

from tap_daktela.auth import login, whoami, whoim
from tap_daktela.errors import DaktelaError

from . import output
from .configuration import ENDPOINTS, Config, ConfigError, parse_config, parse_selection
from .launcher import ExecStarter, LaunchError, Starter, new_starter
from .runner import PipelineResult, Redactor, run_all, run_pipeline
from .translation import (
    StreamPlan,
    TapError,
    discover,
    flat_schema,
    plan_stream,
    requests_share,
    select_stream,
    stream_fields,
    streams_by_id,
)

log = logging.getLogger(__name__)


class InternalError(Exception):
    """A failure the user cannot fix (exit code 2)."""


@contextlib.contextmanager
def _daktela_errors_as_user_errors() -> Iterator[None]:
    """Daktela errors (bad credentials, unreachable, no rights) are one clean line without secrets: exit 1."""
    try:
        yield
    except DaktelaError as exc:
        raise UserException(str(exc)) from None


def _login(config: Config) -> str:
    """Log in once; every tap reuses the token."""
    with _daktela_errors_as_user_errors():
        return login(config.url, config.username, config.password, verify_ssl=config.verify_ssl)


def _instance_timezone(config: Config, token: str) -> str | None:
    """The instance's `_timezone`, read once here so the taps need not each ask `whoim` again."""
    with _daktela_errors_as_user_errors():
        return whoim(config.url, token, verify_ssl=config.verify_ssl).get("_timezone")


def _remove_partial_table(csv_path: Path) -> None:
    """Remove what a failed pipeline wrote, so no half table looks complete; never hide the failure's reason."""
    for leftover in (csv_path, csv_path.with_suffix(".csv.tmp")):
        try:
            if leftover.is_file():
                leftover.unlink()
        except OSError as exc:
            log.warning("Could not remove the partial table %s: %s", leftover, exc)


class Component(ComponentBase):
    """Daktela extractor: validated config in, one CSV table per endpoint out."""

    def _config(self, *, require_endpoints: bool = True) -> Config:
        return parse_config(self.configuration.parameters, require_endpoints=require_endpoints)

    def _catalog(self, config: Config, starter: Starter) -> dict[str, dict[str, Any]]:
        try:
            return streams_by_id(discover(config, starter))
        except (TapError, LaunchError) as exc:
            raise InternalError(str(exc)) from None

    def run(self) -> None:
        """Validate, log in once, run the pipelines, then write manifests and state only for finished tables."""
        config = self._config()
        starter = new_starter()  # the launcher imports the tap and target while this process goes on
        try:
            self._run(config, starter)
        finally:
            starter.close()

    def _run(self, config: Config, starter: Starter) -> None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="discover") as pool:
            # the catalog comes from the launcher once it has imported the tap; log in meanwhile
            catalog_ahead = pool.submit(self._catalog, config, starter)
            token = _login(config)
            timezone = _instance_timezone(config, token)
            catalog = catalog_ahead.result()
        for selection in config.endpoints:
            if selection.endpoint not in catalog:
                raise ConfigError(f"Unknown endpoint '{selection.endpoint}'; valid endpoints: {', '.join(ENDPOINTS)}.")
            select_stream(catalog[selection.endpoint], selection.fields)

        redact = Redactor([config.password, token])
        previous = self.get_state_file() or {}
        share = requests_share(config.max_concurrent_requests, len(config.endpoints), config.max_concurrent_endpoints)
        plans = [plan_stream(config, sel, catalog, token, share, previous, timezone) for sel in config.endpoints]
        tables_dir = Path(self.tables_out_path)
        tables_dir.mkdir(parents=True, exist_ok=True)

        with tempfile.TemporaryDirectory(prefix="kbc-daktela-") as work:
            results = run_all(
                plans,
                config.max_concurrent_endpoints,
                lambda plan: run_pipeline(plan, Path(work), tables_dir, redact, starter, config.debug),
            )

        by_endpoint = {p.endpoint: p for p in plans}
        failures = [r for r in results if not r.ok]
        finished: dict[str, dict[str, Any]] = {}
        bookmarks: dict[str, Any] = {}
        for result in results:
            if result.ok:
                finished[result.endpoint] = self._publish(result, by_endpoint[result.endpoint], config, previous)
                bookmarks[result.endpoint] = ((result.state or {}).get("bookmarks") or {}).get(result.endpoint)
            else:
                _remove_partial_table(result.csv_path)

        if failures:
            self._fail(failures, skipped=len(plans) - len(results))
        self.write_state_file(output.merge_state(previous, bookmarks, finished))
        log.info("Extracted %d endpoint(s): %s", len(finished), ", ".join(finished))

    def _publish(
        self, result: PipelineResult, plan: StreamPlan, config: Config, previous: dict[str, Any]
    ) -> dict[str, Any]:
        """Fix the CSV's columns (names, kept columns) and write its manifest; return the table's state entry."""
        earlier = (previous.get("tables") or {}).get(plan.endpoint) or {}
        try:
            types = output.column_types(flat_schema(plan.schema))
            expected = list(types)
        except ImportError:
            log.warning("tap_daktela.flattening is unavailable; column types default to STRING")
            types, expected = {}, []
        types = {**(earlier.get("types") or {}), **types}
        if result.csv_path.exists():
            raw = output.read_header(result.csv_path)
        else:
            output.write_empty_csv(result.csv_path, expected)
            raw = expected
        columns = output.merge_columns(output.sanitize_columns(raw), list(earlier.get("columns") or []))
        output.finalize_csv(result.csv_path, raw, columns)
        primary_key = output.sanitize_columns(plan.primary_key)
        output.write_table_manifest(self, plan.endpoint, columns, types, primary_key, config.incremental)
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
        """Fields of the configured endpoints (all endpoints when none): static discovery, no API request."""
        return self._fields()

    @sync_action("discoverFields")
    def discover_fields(self) -> dict[str, list[str]]:
        """Alias of listFields (the seed's button name)."""
        return self._fields()

    def _fields(self) -> dict[str, list[str]]:
        selections = parse_selection(self.configuration.parameters)
        params = self.configuration.parameters or {}
        connection = params.get("connection") or {}
        config = Config(
            url=str(connection.get("url") or "https://instance.invalid").rstrip("/"),
            username=str(connection.get("username") or "user"),
            password=str(connection.get("#password") or "unused"),
        )
        catalog = self._catalog(config, ExecStarter())  # one process: a launcher would not pay for itself
        names = [s.endpoint for s in selections] or [e for e in ENDPOINTS if e in catalog]
        return {name: stream_fields(catalog[name]) for name in names if name in catalog}

    @sync_action("testConnection")
    def test_connection(self) -> ValidationResult:
        """Log in and ask who we are; the message names the user so a wrong account is obvious."""
        config = self._config(require_endpoints=False)
        token = _login(config)
        with _daktela_errors_as_user_errors():
            user = whoami(config.url, token, verify_ssl=config.verify_ssl) or {}
        who = user.get("title") or user.get("name") or config.username
        return ValidationResult(f"Connected to {config.url} as {who}.", MessageType.SUCCESS)
