"""tap-daktela: settings, run-wide values (token, session, time zone, start and end dates) and the command line."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import typing as t
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

import pendulum
import requests
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import StateMessage

from tap_daktela.auth import TokenProvider, request_settings, whoim
from tap_daktela.client import DaktelaStream
from tap_daktela.dates import parse_date_setting
from tap_daktela.discovery import discover_schemas
from tap_daktela.errors import ERROR_LINE_PREFIX, DaktelaAPIError, DaktelaConfigError, DaktelaError
from tap_daktela.input_files import invalid_json_file
from tap_daktela.instance_facts import InstanceFacts
from tap_daktela.interrupts import Interrupted, exit_interrupted, install_interrupt_handlers, signal_handlers_kept
from tap_daktela.log_noise import quiet_sdk_chatter
from tap_daktela.query import MAX_PAGE_SIZE
from tap_daktela.references import DEFAULT_NESTED_OBJECTS_MODE, NESTED_OBJECTS_MODES, schema_for_mode
from tap_daktela.run_summary import RunSummary
from tap_daktela.session import build_session, tls_verify
from tap_daktela.shaping import without_secret_properties
from tap_daktela.singer_writer import DaktelaWriter
from tap_daktela.streams import STREAM_TYPES
from tap_daktela.tally import log_summary
from tap_daktela.unknown_settings import setting_names, unknown_setting_warnings

DEFAULT_TIMEZONE = "Europe/Prague"
SECRET_SETTINGS = ("password", "access_token")


class TapDaktela(Tap):
    """Singer tap for the Daktela contact-center REST API v6."""

    name = "tap-daktela"
    package_name = "tap-daktela"
    message_writer_class = DaktelaWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "url", th.StringType, required=True, description="Instance URL, e.g. https://mycompany.daktela.com"
        ),
        th.Property("username", th.StringType, description="User name for `POST /api/v6/login.json`"),
        th.Property("password", th.StringType, secret=True, description="Password of `username`"),
        th.Property(
            "access_token",
            th.StringType,
            secret=True,
            description="Static API token instead of username/password (one of the two is required)",
        ),
        th.Property(
            "start_date",
            th.StringType,
            description="Lower bound of the first sync of incremental streams: ISO date/datetime, `today`, "
            "`yesterday`, `now` or `N days ago` (minutes, hours, weeks, months, years). Default: all history",
        ),
        th.Property(
            "end_date",
            th.StringType,
            description="Upper bound (exclusive), same formats. Default: none, so records changed during the run "
            "are read too",
        ),
        th.Property(
            "timezone",
            th.StringType,
            description="IANA zone of Daktela's naive datetimes. Default: the instance's `_timezone`, "
            "else Europe/Prague",
        ),
        th.Property("page_size", th.IntegerType, default=1000, description="Records per request (`take`), 1-1000"),
        th.Property(
            "max_concurrent_requests",
            th.IntegerType,
            default=10,
            description="List requests in flight at once (a stream's pages, and the next streams' first requests)",
        ),
        th.Property(
            "lookback_window_days",
            th.NumberType,
            default=1,
            description="Days before the bookmark re-read by streams keyed on a creation time (activities*)",
        ),
        th.Property(
            "verify_ssl",
            th.BooleanType,
            default=True,
            description="Check the TLS certificate (false: no check, said once in the log)",
        ),
        th.Property(
            "ca_bundle",
            th.StringType,
            description="Path to a PEM file of CA certificates to trust (a private CA of an on-premises instance). "
            "Default: REQUESTS_CA_BUNDLE or SSL_CERT_FILE when set, else the certifi bundle",
        ),
        th.Property("request_timeout", th.IntegerType, default=300, description="Seconds per request"),
        th.Property("max_retries", th.IntegerType, default=5, description="Retries of a failed request"),
        th.Property(
            "backoff_base_seconds",
            th.NumberType,
            default=1.0,
            description="First retry wait; doubles each retry (a 429's Retry-After wins)",
        ),
        th.Property(
            "activate_version",
            th.BooleanType,
            default=True,
            description="Mark each whole read (full tables every run; incremental streams without bookmark, "
            "start_date and end_date) with ACTIVATE_VERSION after its last record, so a target that honours it "
            "removes deleted records; false: no version messages (a target that cannot remove rows, e.g. CSV)",
        ),
        th.Property(
            "flatten_records",
            th.BooleanType,
            default=False,
            description="Emit flat records for CSV targets: nested objects as `parent_child` columns one level "
            "down, custom fields as `customFields_<name>`, deeper objects and arrays as JSON text",
        ),
        th.Property(
            "nested_objects",
            th.StringType,
            default=DEFAULT_NESTED_OBJECTS_MODE,
            allowed_values=list(NESTED_OBJECTS_MODES),
            description="`keys`: a nested reference to another record becomes its key and title (`user` -> "
            "`user_name`, `user_title`; arrays -> a JSON array of keys), at every depth; `full`: the whole "
            "embedded copy",
        ),
        th.Property(
            "metrics_log_level",
            th.StringType,
            allowed_values=["DEBUG", "INFO", "WARNING", "ERROR"],
            description="Level of the SDK's METRIC log lines: INFO or DEBUG logs them. Default: not logged (the "
            "run summary at the end says records, requests and seconds per stream)",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, discover: t.Iterable[str] | None = None, **kwargs: t.Any) -> None:
        """`discover`: the streams whose schemas live discovery reads from the instance (default: all); the
        others keep their committed schemas. A caller that needs one stream's catalog saves the other requests.
        """
        # set before the SDK's __init__, which already builds the streams (and discovers them)
        self._discover = None if discover is None else set(discover)
        self._dotted_fields: dict[str, bool] = {}  # kind of dotted fields -> honoured, once known
        self._dotted_lock = threading.Lock()
        self.learned_facts: dict[str, InstanceFacts] = {}  # stream -> what live discovery learned this run
        self._ahead: tuple[deque, ThreadPoolExecutor] | None = None  # streams to prefetch, and the pool
        try:
            with signal_handlers_kept():  # the SDK's handlers would turn a cancelled run into exit 0
                super().__init__(*args, **kwargs)
        except ConfigValidationError as exc:  # one line and exit 1 (see `main`), never a secret's value
            errors = "; ".join(exc.errors) or str(exc)
            for secret in _secret_values(kwargs.get("config") or (args[0] if args else None)):
                errors = errors.replace(secret, "***")
            raise DaktelaConfigError(f"invalid settings: {errors}") from None
        self.message_writer.flatten = bool(self.config.get("flatten_records"))  # type: ignore[attr-defined]
        for warning in unknown_setting_warnings(self.config, setting_names(type(self))):
            self.logger.warning("%s", warning)
        self.metrics_logger.setLevel(self.config.get("metrics_log_level") or "WARNING")  # only when asked
        quiet_sdk_chatter(self.logger)

    def discover_streams(self) -> list[DaktelaStream]:
        """Every stream with its schema in the configured `nested_objects` mode: the instance's own (live
        discovery) when there is no input catalog and the tap can log in, else the committed static one."""
        static = {stream_type.name: stream_type.static_schema for stream_type in STREAM_TYPES}
        schemas = static if self.input_catalog is not None else self._live_schemas(static)
        mode = self.config.get("nested_objects") or DEFAULT_NESTED_OBJECTS_MODE
        if mode not in NESTED_OBJECTS_MODES:  # checked here: the SDK builds the streams before any sync
            raise DaktelaConfigError(f"nested_objects {mode!r} must be one of: {', '.join(NESTED_OBJECTS_MODES)}")
        return [
            stream_type(
                tap=self,
                schema=schema_for_mode(stream_type.name, without_secret_properties(schemas[stream_type.name]), mode),
            )
            for stream_type in STREAM_TYPES
        ]

    def _live_schemas(self, static: dict[str, dict]) -> dict[str, dict]:
        if not self.config.get("url") or not self.token_provider.has_credentials:
            self.logger.warning("No credentials: the catalog holds the static schemas, not the instance's own fields")
            return static
        wanted = static if self._discover is None else {n: s for n, s in static.items() if n in self._discover}
        return {**static, **discover_schemas(self, wanted, self.learned_facts)}

    # --- the run's connection ------------------------------------------------------------------------------

    @cached_property
    def run_summary(self) -> RunSummary:
        """What each stream extracted in this run; the streams' record counters fill it (see `tally`)."""
        return RunSummary()

    @cached_property
    def token_provider(self) -> TokenProvider:
        """The run's token, shared by every stream (one login, one re-login when it expires)."""
        return TokenProvider(self.config, lambda: self.http_session)

    @cached_property
    def http_session(self) -> requests.Session:
        """One session for every request of the run; its pool holds `max_concurrent_requests` connections."""
        return build_session(self.config, int(self.config.get("max_concurrent_requests", 10)))

    def dotted_fields_honoured(self, kinds: t.Iterable[str], known: t.Mapping[str, bool]) -> frozenset[str]:
        """Which of `kinds` of dotted `fields[]` (`user.name`; `statuses.name`) to ask for: not those the stream's
        kept facts (`known`) say its endpoint does not honour; the others as this run's records showed, else as
        the facts say, else yes, and the data's records tell."""
        with self._dotted_lock:
            return frozenset(
                kind
                for kind in kinds
                if known.get(kind) is not False and self._dotted_fields.get(kind, known.get(kind, True))
            )

    def dotted_fields_answered(
        self, answers: t.Mapping[str, bool | None], missing: t.Iterable[str] = ()
    ) -> dict[str, bool]:
        """Remember what a record answered to dotted `fields[]` (the first answer per kind and run holds, and is
        logged once), except that a kind whose values came back `missing` is not honoured from then on; returns
        every kind this run knows."""
        with self._dotted_lock:
            for kind in missing:
                if self._dotted_fields.get(kind) is not False:
                    self._dotted_fields.pop(kind, None)
            for kind, answer in {**answers, **dict.fromkeys(missing, False)}.items():
                if answer is not None and kind not in self._dotted_fields:
                    self._dotted_fields[kind] = answer
                    self.logger.info(
                        "Dotted fields[] for nested %s %s by the instance%s",
                        kind,
                        "are honoured" if answer else "are not honoured",
                        "" if answer else "; their keys are taken from whole records",
                    )
            return dict(self._dotted_fields)

    def prefetch_first_pages(self) -> None:
        """The SDK syncs the streams one after another; their first requests (a whole record when the fields must
        be learned, and the first page) are asked for ahead, `max_concurrent_requests` streams ahead and never more
        than `max_concurrent_requests` requests in flight (`request_slots`), so that a nightly run of many small
        streams waits about one round trip per that many streams, not one or two per stream."""
        streams = [stream for stream in self.streams.values() if stream.selected and not stream.parent_stream_type]
        if len(streams) < 2:
            return
        _ = self.http_session, self.request_slots  # made once, on this thread
        ahead = max(1, int(self.config.get("max_concurrent_requests", 10)))
        self._ahead = (deque(streams), ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="first-page"))
        for _ in range(ahead):  # never a job waiting for a thread: a run that fails ends without a queue to drain
            self.prefetch_next()

    @cached_property
    def request_slots(self) -> threading.BoundedSemaphore:
        """List requests in flight at once, over every stream of the run: `max_concurrent_requests`."""
        return threading.BoundedSemaphore(max(1, int(self.config.get("max_concurrent_requests", 10))))

    def prefetch_next(self) -> None:
        """Ask for the first requests of the next stream not yet asked for (a stream calls this as it starts)."""
        if self._ahead is None:
            return
        waiting, pool = self._ahead
        if not waiting:
            pool.shutdown(wait=False)
            return
        stream = waiting.popleft()
        try:
            stream.prefetch(pool)
        except Exception:  # e.g. no token or time zone yet: the stream meets it again when it is read
            self.logger.debug("%s: nothing asked for ahead", stream.name, exc_info=True)

    def check_settings(self) -> None:
        """Fail with one clear line on settings the tap cannot use, before any request."""
        if not str(self.config.get("url") or "").strip():
            raise DaktelaConfigError("url is required, e.g. https://mycompany.daktela.com")
        if not str(self.config["url"]).startswith(("http://", "https://")):
            raise DaktelaConfigError(f"url {self.config['url']!r} must start with https:// (or http://)")
        if not self.token_provider.has_credentials:
            raise DaktelaConfigError("set either access_token, or username and password")
        page_size = int(self.config.get("page_size", MAX_PAGE_SIZE))
        if page_size < 1:
            raise DaktelaConfigError(f"page_size {page_size} must be between 1 and {MAX_PAGE_SIZE}")
        if int(self.config.get("max_concurrent_requests", 10)) < 1:
            raise DaktelaConfigError("max_concurrent_requests must be at least 1")
        tls_verify(self.config)  # a missing ca_bundle file fails here, before any request
        if float(self.config.get("lookback_window_days", 1)) < 0:
            raise DaktelaConfigError("lookback_window_days must be 0 or more")
        if self.config.get("timezone"):
            try:
                pendulum.timezone(self.config["timezone"])
            except Exception as exc:
                raise DaktelaConfigError(f"timezone {self.config['timezone']!r} is not an IANA time zone") from exc
        self._parse_dates(self.config.get("timezone") or DEFAULT_TIMEZONE)  # bad dates fail before any request

    @cached_property
    def page_size(self) -> int:
        page_size = int(self.config.get("page_size", MAX_PAGE_SIZE))
        if page_size > MAX_PAGE_SIZE:
            self.logger.warning("page_size %d is above Daktela's maximum; using %d", page_size, MAX_PAGE_SIZE)
            return MAX_PAGE_SIZE
        return page_size

    @cached_property
    def timezone(self) -> str:
        """The configured zone, else the instance's `_timezone` (one `whoim` request), else Europe/Prague."""
        if self.config.get("timezone"):
            return self.config["timezone"]
        try:
            envelope = whoim(
                self.config["url"],
                self.token_provider.token(),
                session=self.http_session,
                **request_settings(self.config),
            )
            zone = envelope.get("_timezone")
        except DaktelaAPIError as exc:
            self.logger.warning("Could not read the instance's time zone: %s", exc)
            zone = None
        if zone:
            try:
                pendulum.timezone(zone)
                return zone
            except Exception:
                self.logger.warning("The instance reports an unknown time zone %r", zone)
        self.logger.info("Using time zone %s", DEFAULT_TIMEZONE)
        return DEFAULT_TIMEZONE

    def _parse_dates(self, zone: str) -> tuple[pendulum.DateTime | None, pendulum.DateTime | None]:
        start, end = (
            parse_date_setting(str(self.config[setting]), setting=setting, tz=zone)
            if self.config.get(setting) not in (None, "")
            else None
            for setting in ("start_date", "end_date")
        )
        if start is not None and end is not None and start > end:
            raise DaktelaConfigError(
                f"start_date {self.config['start_date']!r} is after end_date {self.config['end_date']!r}"
            )
        return start, end

    @cached_property
    def date_settings(self) -> tuple[pendulum.DateTime | None, pendulum.DateTime | None]:
        """`start_date` and `end_date` in the instance zone (`today` is the instance's midnight)."""
        return self._parse_dates(self.timezone)

    @property
    def start_date(self) -> pendulum.DateTime | None:
        return self.date_settings[0]

    @property
    def end_date(self) -> pendulum.DateTime | None:
        return self.date_settings[1]

    def sync_all(self) -> None:
        self.check_settings()
        self.prefetch_first_pages()
        try:
            super().sync_all()
        except Interrupted:
            # Bookmarks only cover records already written, so the current state is a safe place to resume from
            # and saves re-reading what came after the last STATE line.
            with contextlib.suppress(Exception):
                self.write_message(StateMessage(value=self.state))
            raise
        finally:
            with contextlib.suppress(Exception):
                self.message_writer.flush()  # type: ignore[attr-defined]
            log_summary(self.run_summary, self.streams, self.logger)


def main() -> None:
    """Console entry point: a user error ends with one line `tap-daktela: error: ...` and exit code 1; SIGINT and
    SIGTERM with `tap-daktela: interrupted` and exit code 130 / 143."""
    install_interrupt_handlers()
    try:
        code = TapDaktela.cli.main(args=sys.argv[1:] or ["--help"], standalone_mode=False)  # no arguments: usage
    except Interrupted as exc:
        exit_interrupted(exc.signum)
    except DaktelaError as exc:
        _fail(str(exc))
    except FileNotFoundError as exc:  # --config, --catalog or --state names a file that is not there
        _fail(str(exc))
    except ValueError as exc:  # the SDK reads those files with simplejson, whose decode error is a ValueError
        if type(exc).__name__ != "JSONDecodeError":
            raise
        _fail(invalid_json_file(sys.argv[1:]) or f"a --config, --catalog or --state file is not valid JSON: {exc}")
    except BrokenPipeError:
        sys.exit(1)
    if isinstance(code, int) and code:  # click returns `ctx.exit(n)` codes instead of exiting when not standalone
        sys.exit(code)


def _secret_values(config: t.Any) -> list[str]:
    """The secret settings' values, longest first, from a config given as a dict or JSON files, and the env."""
    values: list[t.Any] = [os.environ.get(f"TAP_DAKTELA_{name.upper()}") for name in SECRET_SETTINGS]
    sources = config if isinstance(config, (list, tuple)) else [config]
    for source in sources:
        if isinstance(source, (str, Path)) and Path(source).is_file():
            source = json.loads(Path(source).read_text())
        if isinstance(source, dict):
            values += [source.get(name) for name in SECRET_SETTINGS]
    return sorted({str(v) for v in values if v not in (None, "")}, key=len, reverse=True)


def _fail(message: str) -> t.NoReturn:
    sys.stdout.flush()
    print(f"{ERROR_LINE_PREFIX}{message}", file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
