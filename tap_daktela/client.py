"""The Daktela REST stream: what the SDK asks of a stream, plus how one endpoint's list is requested and read.

Run-wide values (token, HTTP session, time zone, `start_date`/`end_date`, what the instance supports) live on the
tap; paging is `paging.ListReader`, decoding `pages`, the range each run reads `read_range`, record shaping `shaping`.
"""

from __future__ import annotations

import contextlib
import logging
import time
import typing as t
from concurrent.futures import Executor, Future
from dataclasses import replace
from datetime import UTC, datetime
from functools import cached_property

import pendulum
import requests
from singer_sdk import RESTStream, metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage

from tap_daktela.auth import TOKEN_HEADER, DaktelaAuthenticator, api_url
from tap_daktela.dates import LocalTimeConverter
from tap_daktela.endpoints import Endpoint
from tap_daktela.errors import DaktelaAPIError, DaktelaAuthError, DaktelaConnectionError
from tap_daktela.field_pushdown import (
    BOTH,
    NONE,
    Dotting,
    dotted_answer,
    dotted_fields,
    missing_kinds,
    requested_fields,
)
from tap_daktela.instance_facts import STATE_KEY as FACTS_KEY
from tap_daktela.instance_facts import InstanceFacts, fields_of, skeleton
from tap_daktela.memory import release_free_memory
from tap_daktela.pages import RecordDecoder, SpooledBody, decode_list, error_text
from tap_daktela.paging import ListReader, Page
from tap_daktela.query import ListQuery, after_key, condition
from tap_daktela.read_range import local_bounds, read_start, within
from tap_daktela.references import DEFAULT_NESTED_OBJECTS_MODE, all_references, references
from tap_daktela.retries import RETRY_STATUSES, jitter, wait_times
from tap_daktela.run_summary import plural
from tap_daktela.session import tls_failure
from tap_daktela.shaping import RecordShaper
from tap_daktela.snapshots import own_record, taken_at
from tap_daktela.tally import record_counter

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_daktela.run import DaktelaRun


class DottedFieldsMissing(Exception):
    """A record came back without the nested values its dotted `fields[]` asked for (kinds in `kinds`)."""

    def __init__(self, kinds: set[str]) -> None:
        super().__init__(", ".join(sorted(kinds)))
        self.kinds = frozenset(kinds)


class DateFilterRejected(Exception):
    """The endpoint answered 400 to a request that filtered on its date field (a known quirk of some activities
    endpoints)."""


class RequestRejected(DaktelaAPIError):
    """The endpoint answered 400 (or another 4xx without a meaning of its own) to a request."""


class EndpointMissing(DaktelaAPIError):
    """The instance answered 404 for the endpoint (for a messaging channel: the channel is not set up)."""


class DaktelaStream(RESTStream):
    """One Daktela list endpoint (`GET /api/v6/<endpoint>.json`), read by `paging.ListReader`."""

    endpoint: t.ClassVar[Endpoint]
    static_schema: t.ClassVar[dict]  # the committed schema; the tap passes each stream its schema for the run
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # records are shaped to the schema by RecordShaper
    STATE_MSG_FREQUENCY = 5000

    def __init__(self, tap: Tap, schema: dict | None = None) -> None:
        super().__init__(tap=tap, schema=schema)
        self.run: DaktelaRun = t.cast("DaktelaRun", tap)  # its connection, settings and what it learned
        self.date_filter_fallback = False
        self._sampled = False
        self._prefetched: tuple[ListQuery, Future, bool] | None = None  # asked for ahead (`prefetch`): page or not
        self._starting_ahead: tuple[t.Any] | None = None  # the bookmark `prefetch` reads from
        self._dotted_failed: set[str] = set()  # kinds of dotted fields[] this endpoint rejected or dropped

    # --- what the SDK asks of a REST stream ---------------------------------------------------------------

    @property
    def url_base(self) -> str:
        return api_url(self.config["url"], "")

    @property
    def path(self) -> str:  # type: ignore[override]
        return f"{self.endpoint.name}.json"

    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout", 300))

    @property
    def authenticator(self) -> DaktelaAuthenticator:
        return DaktelaAuthenticator(self.run.token_provider)

    @property
    def requests_session(self) -> requests.Session:
        """The run's one session (TLS settings, a pool sized to `max_concurrent_requests`), see `session`."""
        return self.run.http_session

    @property
    def is_sorted(self) -> bool:
        # Read by replication key, bookmarks advance record by record; in the date-filter fallback the list
        # is read by primary key, so the bookmark is set only once the stream is complete.
        return self.replication_key is not None and not self.date_filter_fallback

    @property
    def check_sorted(self) -> bool:
        # The lookback re-reads records before the old bookmark, and gap re-reads may emit an earlier key;
        # the bookmark then simply follows the last emitted record (it can only move back, never skip).
        return False

    @cached_property
    def concurrency(self) -> int:
        return max(1, int(self.config.get("max_concurrent_requests", 10)))

    def get_url_params(self, context: Context | None, next_page_token: ListQuery | None) -> list[tuple[str, str]]:  # type: ignore[override]
        return (next_page_token or self.base_query()).params()

    def get_record_counter(self, **kwargs: t.Any) -> metrics.Counter:
        """The SDK's record counter, which also tallies the stream for the run summary and logs progress (`tally`)."""
        return record_counter(super().get_record_counter(**kwargs), self, self.run.run_summary)

    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", 5)) + 1

    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        """Exponential waits, except that a 429's `Retry-After` is honoured."""
        return wait_times(float(self.config.get("backoff_base_seconds", 1.0)))

    def backoff_jitter(self, value: float) -> float:
        return jitter(value)

    def backoff_handler(self, details: t.Any) -> None:
        exception = details.get("exception")
        reason = str(exception) if isinstance(exception, RetriableAPIError) else f"{type(exception).__name__}"
        self.logger.warning(
            "%s: %s; retry %d in %.1f s", self.name, reason, details.get("tries", 0), details.get("wait", 0.0)
        )

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = error_text(response.content)
        suffix = f": {detail}" if detail else ""
        if status in RETRY_STATUSES or status >= 500:
            raise RetriableAPIError(f"HTTP {status} from endpoint '{self.name}'{suffix}", response)
        if status == 401:
            raise DaktelaAuthError(f"the access token was refused for endpoint '{self.name}' (HTTP 401)")
        if status == 403:
            raise DaktelaAPIError(f"no rights for endpoint '{self.name}' (HTTP 403){suffix}")
        if status == 404:
            raise EndpointMissing(f"endpoint '{self.name}' does not exist on this instance (HTTP 404)")
        raise RequestRejected(f"endpoint '{self.name}' rejected the request (HTTP {status}){suffix}")

    # --- requests -----------------------------------------------------------------------------------------

    def send_list_request(self, query: ListQuery) -> SpooledBody:
        """One GET of the list, with one fresh login when a login-issued token has expired."""
        for attempt in (1, 2):
            prepared = self.authenticator(self.prepare_request(None, query))
            response = self.requests_session.send(prepared, timeout=self.timeout, stream=True)
            try:
                refused = response.status_code == 401 and attempt == 1
                if refused and self.run.token_provider.refresh(prepared.headers.get(TOKEN_HEADER)):
                    self.logger.info("%s: the token expired; logged in again", self.name)
                    continue
                if response.status_code == 400 and self._filters_on_date(query):
                    raise DateFilterRejected(error_text(response.content))
                self.validate_response(response)
                return SpooledBody(response, self.decode, lambda: self._refetch(query))
            finally:
                response.close()
        raise AssertionError("unreachable")

    def fetch_body(self, query: ListQuery) -> SpooledBody:
        """Request a page now and decode it later (pages fetched ahead wait compactly), with retries."""
        return self.request_decorator(self._send_in_turn)(query)

    def fetch_page(self, query: ListQuery) -> Page:
        """Request and decode a page, retrying both (a malformed body is retried like a 5xx)."""
        return self.request_decorator(lambda q: self.decode(self._send_in_turn(q).content()))(query)

    def _send_in_turn(self, query: ListQuery) -> SpooledBody:
        """`send_list_request` once one of the run's `max_concurrent_requests` slots is free (streams' requests
        overlap, see `TapDaktela.prefetch_first_pages`, but never beyond the setting)."""
        with self.run.request_slots:
            return self.send_list_request(query)

    def decode(self, content: bytes) -> Page:
        return decode_list(content, self.name)

    def _refetch(self, query: ListQuery) -> Page:
        self.logger.warning("%s: a page did not decode; fetching it again", self.name)
        return self.fetch_page(query)

    def _filters_on_date(self, query: ListQuery) -> bool:
        """Whether the request filtered on the replication key (only then can a 400 be the date-filter quirk)."""
        return (
            bool(self.replication_key)
            and not self.date_filter_fallback
            and any(f.get("field") == self.replication_key for f in query.filters)
        )

    def read_list(self, query: ListQuery, first: Future | None = None) -> t.Iterator[dict]:
        """The records of `query`; `first`: its first page, already asked for (see `prefetch`)."""

        def fetch_page(page_query: ListQuery) -> Page:
            nonlocal first
            if first is not None and page_query is query:  # the reader's first request is the query itself
                body, first = first, None
                spooled = body.result()
                if spooled is not None:
                    return spooled.load()
            return self.fetch_page(page_query)

        reader = ListReader(
            fetch_page,
            self.fetch_body,
            self.decoder,
            query,
            self.key_fields,
            self.concurrency,
            release_free_memory,
        )
        with self.api_errors():
            yield from reader.records()
        notable = reader.repairs or self.date_filter_fallback  # else the run summary says the requests
        self.logger.log(
            logging.INFO if notable else logging.DEBUG,
            "%s: %s (%s)%s",
            self.name,
            plural(reader.requests, "request"),
            plural(reader.repairs, "gap re-read"),
            " in date-filter fallback" if self.date_filter_fallback else "",
        )

    def api_errors(self) -> t.ContextManager[None]:
        """Turn what is left after the retries into one clear line."""
        return _api_errors(self)

    # --- queries ------------------------------------------------------------------------------------------

    @property
    def key_fields(self) -> tuple[str, ...]:
        pk = self.endpoint.primary_key
        if self.replication_key and not self.date_filter_fallback:
            return (self.replication_key, pk)
        return (pk,)

    @property
    def decoder(self) -> RecordDecoder:
        return RecordDecoder(self.key_fields)  # the key changes in the date-filter fallback

    @cached_property
    def selected_properties(self) -> list[str]:
        """Top-level properties to emit, in schema order: the selected ones and the keys."""
        keys = {self.endpoint.primary_key, *([self.replication_key] if self.replication_key else [])}
        keys.update(self.endpoint.added_properties)
        return [
            name
            for name in self.effective_schema["properties"]
            if name in keys or self.mask.get(("properties", name), True)
        ]

    @cached_property
    def array_keys(self) -> dict[str, tuple[str, ...]]:
        """Arrays of references -> the key fields of their items (what `statuses.name` asks for)."""
        return {name: ref.key_fields for name, ref in references(self.name).items() if ref.many}

    def requested_fields(self, dotting: Dotting = NONE) -> tuple[str, ...]:
        """`fields[]` pushdown of the selection (keys always), nested keys dotted for the kinds in `dotting`."""
        added = self.endpoint.added_properties  # the tap's own (`snapshot_time`): never asked of Daktela
        properties = {name: prop for name, prop in self.effective_schema["properties"].items() if name not in added}
        selected = [name for name in self.selected_properties if name not in added]
        return requested_fields(properties, selected, dotting=dotting, array_keys=self.array_keys)

    def dotted_kinds(self, query: ListQuery) -> dict[str, str]:
        """Parent property -> kind (objects or arrays) of the dotted fields in `query`."""
        properties = self.effective_schema["properties"]
        kinds = {}
        for field in query.fields:
            parent, _, child = field.partition(".")
            dotted = dotted_fields(parent, properties[parent], self.array_keys.get(parent, ())) if child else None
            if dotted:
                kinds[parent] = dotted[0]
        return kinds

    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """The later of the bookmark and `start_date`; the SDK's version cannot read phrases like `7 days ago`."""
        start = self.run.start_date
        if start is None or pendulum.parse(str(value)) >= start:
            return value
        return start.isoformat()

    def read_range(self, context: Context | None) -> tuple[pendulum.DateTime | None, pendulum.DateTime | None]:
        """The [start, end) of this run's read in the instance zone; None means unbounded."""
        start = None
        if self.replication_key:
            bookmark = self.get_starting_replication_key_value(context)
            if not (bookmark and self.stream_state.get("replication_key_value") == bookmark):
                bookmark = None  # the SDK answers start_date when there is no bookmark
            start = read_start(
                bookmark,
                self.run.start_date,
                lookback_days=float(self.config.get("lookback_window_days", 1)),
                created_key=self.endpoint.created_key,
            )
        return start, self.run.end_date

    def base_query(self, context: Context | None = None, *, dotting: Dotting = NONE) -> ListQuery:
        filters = []
        if self.replication_key and not self.date_filter_fallback:
            low, high = local_bounds(*self.read_range(context), self.run.timezone)
            if low is not None:
                filters.append(condition(self.replication_key, "gte", low))
            if high is not None:
                filters.append(condition(self.replication_key, "lt", high))
        return ListQuery(
            filters=tuple(filters),
            sort=self.key_fields,
            fields=self.requested_fields(dotting),
            take=self.run.page_size,
        )

    # --- reading ------------------------------------------------------------------------------------------

    def is_whole_read(self, context: Context | None) -> bool:
        """Whether this run reads every record the endpoint has: a full-table stream, or an incremental one with
        no bookmark, no `start_date` and no `end_date` (a first run, a full refresh, a state without it)."""
        return self.replication_key is None or self.read_range(context) == (None, None)

    @property
    def emit_activate_version_messages(self) -> bool:
        """Off for the SDK's own message at the start of a sync: `get_records` sends ACTIVATE_VERSION after the
        last record instead (a target that honours it removes older rows at once, so one sent first would leave
        a cancelled run with an empty table)."""
        return False

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        whole = self.is_whole_read(context) and bool(self.config.get("activate_version", True))
        if whole:  # records carry the version; ACTIVATE_VERSION after the last one retires the rows not read
            self._new_table_version()
        try:
            yield from self._records(context)
        except EndpointMissing as exc:
            if not self.endpoint.optional:
                raise
            self.logger.warning(
                "%s: %s; the instance does not have this model (a channel not set up, a module not licensed), "
                "so the stream is empty",
                self.name,
                exc,
            )
            whole = False  # nothing was read: what the destination holds stays
        self._warn_undeclared()
        if whole:
            self._activate_table_version()

    def _records(self, context: Context | None) -> t.Iterator[dict]:
        try:
            yield from self._read(context)
            rejected = None
        except DateFilterRejected as exc:
            rejected = exc
        if rejected is not None:
            self.logger.warning(
                "%s: the endpoint rejected a filter on '%s' (HTTP 400%s); reading it without the date filter "
                "and filtering in the tap",
                self.name,
                self.replication_key,
                f": {rejected}" if str(rejected) else "",
            )
            self.date_filter_fallback = True
            low, high = local_bounds(*self.read_range(context), self.run.timezone)
            for record in self._read(context):
                if within(record.get(self.replication_key), low, high):  # type: ignore[arg-type]
                    yield record
        self._keep_facts()

    # --- what the stream knows of the instance (see `instance_facts`) -------------------------------------

    @cached_property
    def facts(self) -> InstanceFacts:
        """What is known of the instance for this stream: what this run's discovery saw, else the state's facts
        while fresh, else nothing yet (this run learns them)."""
        kept = InstanceFacts.from_state(self._kept_state())
        if kept is not None and not kept.fresh():
            kept = None
        seen = self.run.learned_facts.get(self.name)
        if seen is not None:
            return InstanceFacts(seen.learned, set(seen.fields or ()), dict(kept.dotted) if kept else {})
        return kept or InstanceFacts()

    def _kept_state(self) -> dict:
        """The stream's state entry, read without making one (the SDK writes the run's first STATE message only
        when the state holds something)."""
        return (self.tap_state.get("bookmarks") or {}).get(self.name) or {}

    @contextlib.contextmanager
    def _state_untouched(self) -> t.Iterator[None]:
        """Whatever reads the state meanwhile (the SDK's state getters make an empty entry), leave none made."""
        made_bookmarks = "bookmarks" not in self.tap_state
        made_entry = self.name not in (self.tap_state.get("bookmarks") or {})
        try:
            yield
        finally:
            bookmarks = self.tap_state.get("bookmarks")
            if made_entry and isinstance(bookmarks, dict) and bookmarks.get(self.name) == {}:
                del bookmarks[self.name]
            if made_bookmarks and bookmarks == {}:
                del self.tap_state["bookmarks"]

    @cached_property
    def dottable_kinds(self) -> frozenset[str]:
        """The kinds of dotted `fields[]` the selection of this stream could ask for."""
        return frozenset(self.dotted_kinds(ListQuery(fields=self.requested_fields(BOTH))).values())

    def _dotting(self) -> Dotting:
        return self.run.dotted_fields_honoured(self.dottable_kinds, self.facts.dotted)

    def _prepared_query(self, context: Context | None) -> ListQuery:
        """The list query, nested keys dotted as far as the instance is not known to ignore them."""
        return self.base_query(context, dotting=self._dotting())

    def _learn_fields(self, query: ListQuery) -> None:
        """Before the first query, once per run, what fields the instance sends, so that an outdated catalog says
        what it misses. Whole records show that themselves; records asked for with `fields[]` cannot, so the
        stream's facts tell, or, when there are none (or they are a day old), one whole record is read: the most
        recent of this run's range."""
        if self._sampled or not query.fields:
            return
        self._sampled = True
        if self.facts.fields is not None:
            self.shaper.note_undeclared(skeleton(self.facts.fields))
            return
        with self.api_errors():
            page = self.fetch_page(replace(query, fields=(), take=1, descending=True))
        records = [self.decoder.record(raw) for raw in page.raws]
        for record in records:
            self.shaper.note_undeclared(record)
        if records:
            self.facts = InstanceFacts(fields=fields_of(records), dotted=self.facts.dotted)

    def get_starting_replication_key_value(self, context: Context | None) -> t.Any:
        if self._starting_ahead is not None:
            return self._starting_ahead[0]
        return super().get_starting_replication_key_value(context)

    def _starting_value_ahead(self) -> t.Any:
        """The bookmark the SDK will start this stream from, before its sync writes it to the state: the state's
        value when it is for this replication key (the later of it and `start_date`), else `start_date`."""
        if not self.replication_key:
            return None
        state = self._kept_state()
        value = state.get("replication_key_value") if state.get("replication_key") == self.replication_key else None
        start = self.config.get("start_date")
        if start:
            value = self.compare_start_date(value, start) if value else start
        return value

    def prefetch(self, pool: Executor) -> None:
        """Ask for what the stream's read starts with (the whole record that shows the fields, when needed, and the
        first page) on `pool` now, so that the requests of streams synced one after another overlap. The query is
        made here, on the caller's thread (it reads the state), from the bookmark the sync will start from; `_read`
        takes the page only when its own query filters the same. The page waits compactly (`SpooledBody`), and a
        failure surfaces in `_read`, as if it had been asked for then."""
        _ = self.shaper, self.dottable_kinds  # built on this thread, not the pool's
        self._starting_ahead = (self._starting_value_ahead(),)
        try:
            with self._state_untouched():
                query = self._prepared_query(None)
        finally:
            self._starting_ahead = None

        known = {**self.facts.dotted, **self.run.dotted_fields_answered({})}
        unproven = set(self.dotted_kinds(query).values()) - set(known)

        def first_page() -> SpooledBody | None:
            self._learn_fields(query)
            # with dotted fields no record has answered yet, the page is asked for in turn, so that an instance that
            # drops them costs one page read twice in a run, not one per stream asked for ahead
            return None if unproven else self.fetch_body(query)

        self._prefetched = (query, pool.submit(first_page), not unproven)

    def _read(self, context: Context | None) -> t.Iterator[dict]:
        """The list, read once. Each record answers for the dotted `fields[]` asked (`_answered`) until every kind
        is known; when one came back without what was asked, the rest is read with those values whole, from
        after the last record emitted. A dotted query rejected (HTTP 400) before any record is asked again
        without them."""
        query = self._prepared_query(context)
        first: Future | None = None
        if self._prefetched is not None:
            (ahead, first, with_page), self._prefetched = self._prefetched, None
            self.run.prefetch_next()
            if not with_page:
                first.result()  # the whole record that shows the fields (a failure surfaces here)
                first = None
            elif (ahead.filters, ahead.sort) == (query.filters, query.sort):
                query = ahead  # its dotted fields may differ: the records tell either way
            else:
                if not first.cancel():  # asked for another range: read afresh, once the request has ended
                    with contextlib.suppress(Exception):
                        first.result()
                first = None
        self._learn_fields(query)
        rejected: frozenset[str] = frozenset()
        last: tuple[t.Any, ...] | None = None
        while True:
            kinds = self.dotted_kinds(query)
            try:
                records = self.read_list(query, first)
                first = None
                for record in self._answered(records, query.fields, kinds, rejected):
                    key = tuple(record.get(field) for field in self.key_fields)
                    yield record
                    last = key
                return
            except (DateFilterRejected, RequestRejected) as exc:
                if not kinds or last is not None:
                    raise
                self.logger.info("%s: dotted fields[] were rejected (%s); asking without them", self.name, exc)
                rejected = frozenset(kinds.values())
                self._dotted_failed |= rejected
                dotting = self._dotting() - rejected
            except DottedFieldsMissing as exc:
                self._dotted_failed |= exc.kinds
                dotting = self._dotting() - exc.kinds
            query = self.base_query(context, dotting=dotting)
            if last is not None:
                query = replace(query, filters=(*query.filters, after_key(self.key_fields, last)))

    def _answered(
        self, records: t.Iterator[dict], fields: tuple[str, ...], kinds: dict[str, str], rejected: frozenset[str]
    ) -> t.Iterator[dict]:
        """`records`, each telling the run what it answered to the dotted `fields` (`kinds`: parent -> kind)
        until every kind has an answer; `DottedFieldsMissing` when one came back without them (any record: none
        is emitted without its keys). `rejected`: kinds whose dotted query was rejected, not honoured once this one
        (without them) answers."""
        undecided = set(kinds.values())
        for record in records:
            if rejected:
                self.run.dotted_fields_answered(dict.fromkeys(rejected, False))
                rejected = frozenset()
            missing = missing_kinds(record, kinds) if kinds else set()
            if undecided or missing:
                answers = dotted_answer(record, fields, kinds)
                self.run.dotted_fields_answered(answers, missing)
                undecided -= {kind for kind, answer in answers.items() if answer is not None}
                if missing:
                    raise DottedFieldsMissing(missing)
            yield record
        if rejected:
            self.run.dotted_fields_answered(dict.fromkeys(rejected, False))

    def _keep_facts(self) -> None:
        """Keep what this run knows of the instance in the stream's state entry, for the next runs: fields a
        record showed that nothing declared are added, and what the run learned of dotted fields[]."""
        facts = self.facts
        if facts.fields is not None:
            facts.fields |= self.shaper.undeclared
        known = self.run.dotted_fields_answered({})
        for kind, answer in known.items():  # what the run learned, except where this endpoint said no
            if kind in self.dottable_kinds and facts.dotted.get(kind) is not False:
                facts.dotted[kind] = answer
        facts.dotted.update(dict.fromkeys(self._dotted_failed, False))
        self.stream_state[FACTS_KEY] = facts.to_state()

    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        """The SDK announces every failure as "An unhandled error occurred while syncing"; the tap's own one-line
        reason follows it, so that announcement goes to the debug log."""
        if message.startswith("An unhandled error occurred"):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    @cached_property
    def snapshot_time(self) -> str | None:
        """When a snapshot stream's records were read (the instance's local time, shaped like Daktela's own times):
        one value for the whole run."""
        return taken_at(self.run.timezone) if self.endpoint.snapshot else None

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row = own_record(self.endpoint, row, self.snapshot_time)
        self.shaper.note_undeclared(row)
        return self.shaper(row)

    @cached_property
    def shaper(self) -> RecordShaper:
        selected = set(self.selected_properties)

        def is_selected(crumb: tuple[str, ...]) -> bool:
            if len(crumb) == 1:
                return crumb[0] in selected
            return self.mask.get(_breadcrumb(crumb), True)

        return RecordShaper(
            self.effective_schema,
            LocalTimeConverter(self.run.timezone),
            is_selected,
            flat=bool(self.config.get("flatten_records")),
            references=all_references(self.name),
            keys=(self.config.get("nested_objects") or DEFAULT_NESTED_OBJECTS_MODE) == "keys",
        )

    def _warn_undeclared(self) -> None:
        if self.shaper.undeclared:
            self.logger.warning(
                "%s: the instance sends fields the catalog does not declare, so they were not extracted: %s. "
                "Run discovery again (tap-daktela --discover) to get them.",
                self.name,
                ", ".join(sorted(self.shaper.undeclared)),
            )

    # --- the SDK's private names, all here ------------------------------------------------------------------

    def _new_table_version(self) -> None:
        """A new table version (milliseconds, so two reads within a second differ) for the records that follow."""
        self._stream_version = time.time_ns() // 1_000_000

    def _activate_table_version(self) -> None:
        """The SDK's own ACTIVATE_VERSION message for the version the records carried."""
        self._write_activate_version_message(self._stream_version)

    def _generate_record_messages(self, record: dict) -> t.Generator[RecordMessage, None, None]:
        """RECORD messages for a record that `RecordShaper` already projected to the selected properties.

        This overrides a private SDK method because no public hook skips the SDK's own selection walk: it visits
        every nested key of every record against the selection mask, and for Daktela's deeply expanded records
        that walk was two thirds of the tap's CPU time; the shaper has already done the selection. Stream maps
        still apply. The message carries the SDK's private `_stream_version` as the SDK's own method does.
        The two methods above set that version and send the SDK's ACTIVATE_VERSION message at the end of a whole
        read (the SDK has no public hook for it and sends one only before a full-table sync). These three
        methods are the tap's only uses of private SDK names.
        """
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=datetime.now(UTC),
                )


def _breadcrumb(crumb: tuple[str, ...]) -> tuple[str, ...]:
    """`("customFields", "vin")` -> `("properties", "customFields", "properties", "vin")` (catalog metadata)."""
    out: tuple[str, ...] = ()
    for part in crumb:
        out += ("properties", part)
    return out


@contextlib.contextmanager
def _api_errors(stream: DaktelaStream) -> t.Iterator[None]:
    """What is left after the retries, as one clear line."""
    try:
        yield
    except requests.exceptions.SSLError as exc:
        raise DaktelaConnectionError(tls_failure(exc, stream.config["url"], stream.config.get("ca_bundle"))) from exc
    except requests.exceptions.RequestException as exc:
        raise DaktelaConnectionError(
            f"cannot reach Daktela at {stream.config['url']} for endpoint '{stream.name}' after "
            f"{stream.backoff_max_tries()} tries: {type(exc).__name__}"
        ) from exc
    except RetriableAPIError as exc:
        raise DaktelaAPIError(f"giving up after {stream.backoff_max_tries()} tries: {exc}") from exc
    except FatalAPIError as exc:
        raise DaktelaAPIError(str(exc)) from exc


logging.getLogger("urllib3").setLevel(logging.WARNING)
