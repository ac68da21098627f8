"""The Daktela REST stream: requests, errors, retries, parsing and record shaping shared by every endpoint."""

from __future__ import annotations

import logging
import tempfile
import typing as t
from dataclasses import replace
from functools import cached_property

import msgspec
import orjson
import pendulum
import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage

from tap_daktela.auth import TOKEN_HEADER, DaktelaAuthenticator, api_url
from tap_daktela.dates import LocalTimeConverter, ceil_to_second, to_daktela
from tap_daktela.endpoints import Endpoint
from tap_daktela.errors import DaktelaAPIError, DaktelaAuthError, DaktelaConnectionError
from tap_daktela.memory import release_free_memory
from tap_daktela.paging import KeysetPaginator, ListReader, Page
from tap_daktela.query import ListQuery, condition
from tap_daktela.retries import RETRY_STATUSES, jitter, wait_times
from tap_daktela.shaping import RecordShaper

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

SPOOL_IN_MEMORY = 2 * 1024 * 1024  # bytes of a waiting page kept in memory before it spills to a temp file


class DateFilterRejected(Exception):
    """The endpoint answered 400 to a filter on its date field (a known quirk of some activities endpoints)."""


def error_text(body: bytes) -> str:
    """The `error` part of a Daktela error body, as one short line."""
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    if isinstance(error, list):
        text = "; ".join(str(item) for item in error)
    elif isinstance(error, dict):
        text = orjson.dumps(error).decode()
    else:
        text = str(error or "")
    return " ".join(text.split())[:300]


class _ListResult(msgspec.Struct):
    data: list[msgspec.Raw] | dict[str, msgspec.Raw]
    total: int | str


class _ListEnvelope(msgspec.Struct):
    result: _ListResult | None = None


_ENVELOPE = msgspec.json.Decoder(_ListEnvelope)


class RawRecords:
    """Reads raw records: only their sort key while paging, the whole record when it is emitted."""

    def __init__(self, key_fields: tuple[str, ...]) -> None:
        self.key_fields = key_fields
        key_type = msgspec.defstruct("RecordKey", [(field, t.Any, None) for field in key_fields])
        self._key_decoder = msgspec.json.Decoder(key_type)

    def key(self, raw: msgspec.Raw) -> tuple[t.Any, ...]:
        decoded = self._key_decoder.decode(raw)
        return tuple(getattr(decoded, field) for field in self.key_fields)

    def record(self, raw: msgspec.Raw) -> dict:
        return orjson.loads(memoryview(raw))


class SpooledPage:
    """A response body waiting to be parsed: in memory up to `SPOOL_IN_MEMORY`, in a temp file beyond."""

    def __init__(self, stream: DaktelaStream, query: ListQuery, response: requests.Response) -> None:
        self.stream = stream
        self.query = query
        self.body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        for chunk in response.iter_content(chunk_size=1024 * 1024):
            self.body.write(chunk)

    def content(self) -> bytes:
        self.body.seek(0)
        content = self.body.read()
        self.body.close()
        return content

    def load(self) -> Page:
        try:
            return self.stream.parse_page(self.content())
        except RetriableAPIError as exc:
            # A body that does not parse (cut short, say) is fetched again, with the usual retries.
            self.stream.logger.warning("%s; fetching the page again", exc)
            return self.stream.fetch_page(self.query)


class DaktelaStream(RESTStream):
    """One Daktela list endpoint (`GET /api/v6/<endpoint>.json`), read by `paging.ListReader`."""

    endpoint: Endpoint
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # records are shaped to the schema by RecordShaper
    STATE_MSG_FREQUENCY = 5000

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.date_filter_fallback = False

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
        return DaktelaAuthenticator(self._tap.token_provider)  # type: ignore[attr-defined]

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

    @property
    def requests_session(self) -> requests.Session:
        if not self._requests_session:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self.concurrency + 2)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.verify = self.config.get("verify_ssl", True)
            self._requests_session = session
        return self._requests_session

    def get_url_params(self, context: Context | None, next_page_token: ListQuery | None) -> list[tuple[str, str]]:  # type: ignore[override]
        return (next_page_token or self.base_query()).params()

    def get_new_paginator(self) -> KeysetPaginator:
        return KeysetPaginator(self.base_query(), self.key_fields, self.codec.key)

    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", 5)) + 1

    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        """Exponential waits, except that a 429's `Retry-After` is honoured."""
        return wait_times(float(self.config.get("backoff_base_seconds", 1.0)))

    def backoff_jitter(self, value: float) -> float:
        return jitter(value)

    def backoff_handler(self, details: t.Any) -> None:
        exception = details.get("exception")
        self.logger.warning(
            "%s: %s; retry %d in %.1f s",
            self.name,
            _describe(exception),
            details.get("tries", 0),
            details.get("wait", 0.0),
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
            raise DaktelaAPIError(f"endpoint '{self.name}' does not exist on this instance (HTTP 404)")
        if status == 400 and self._has_date_filter(response) and not self.date_filter_fallback:
            raise DateFilterRejected(detail)
        raise DaktelaAPIError(f"endpoint '{self.name}' rejected the request (HTTP {status}){suffix}")

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        return [self.codec.record(raw) for raw in self.parse_page(response.content).raws]

    # --- reading -----------------------------------------------------------------------------------------

    def parse_page(self, content: bytes) -> Page:
        """Decode a list envelope, leaving each record as raw JSON until it is emitted.

        `data` may be a list or an object keyed by record name, `total` an int or a numeric string.
        """
        try:
            envelope = _ENVELOPE.decode(content)
        except msgspec.ValidationError:
            envelope = None
        except msgspec.DecodeError as exc:
            raise RetriableAPIError(f"endpoint '{self.name}' returned malformed JSON ({exc})") from exc
        result = envelope.result if envelope is not None else None
        if result is None or not _is_count(result.total):
            raise DaktelaAPIError(
                f"endpoint '{self.name}' returned an unknown envelope (expected result.data and result.total)"
            )
        raws = list(result.data.values()) if isinstance(result.data, dict) else result.data
        return Page(raws=raws, total=int(result.total))

    @property
    def codec(self) -> RawRecords:
        return RawRecords(self.key_fields)  # the key changes in the date-filter fallback

    def _send(self, query: ListQuery) -> SpooledPage:
        """One GET of the list, with one fresh login when a login-issued token has expired."""
        for attempt in (1, 2):
            prepared = self.prepare_request(None, query)
            prepared = self.authenticator(prepared)
            response = self.requests_session.send(prepared, timeout=self.timeout, stream=True)
            try:
                if response.status_code == 401 and attempt == 1:
                    refused = prepared.headers.get(TOKEN_HEADER)
                    if self._tap.token_provider.refresh(refused):  # type: ignore[attr-defined]
                        self.logger.info("%s: the token expired; logged in again", self.name)
                        continue
                self.validate_response(response)
                return SpooledPage(self, query, response)
            finally:
                response.close()
        raise AssertionError("unreachable")

    def fetch(self, query: ListQuery) -> SpooledPage:
        """Fetch a page now and parse it later (pages fetched ahead wait compactly)."""
        return self.request_decorator(self._send)(query)

    def fetch_page(self, query: ListQuery) -> Page:
        """Fetch and parse a page, retrying both (a malformed body is retried like a 5xx)."""
        return self.request_decorator(lambda q: self.parse_page(self._send(q).content()))(query)

    def read_list(self, query: ListQuery) -> t.Iterator[dict]:
        reader = ListReader(
            self.fetch_page, self.fetch, self.codec, query, self.key_fields, self.concurrency, release_free_memory
        )
        try:
            yield from reader.records()
        except requests.exceptions.RequestException as exc:
            raise DaktelaConnectionError(
                f"cannot reach Daktela at {self.config['url']} for endpoint '{self.name}' after "
                f"{self.backoff_max_tries()} tries: {type(exc).__name__}"
            ) from exc
        except RetriableAPIError as exc:
            raise DaktelaAPIError(f"giving up after {self.backoff_max_tries()} tries: {exc}") from exc
        except FatalAPIError as exc:
            raise DaktelaAPIError(str(exc)) from exc
        self.logger.info(
            "%s: %d requests (%d gap re-reads)%s",
            self.name,
            reader.requests,
            reader.repairs,
            " in date-filter fallback" if self.date_filter_fallback else "",
        )

    # --- queries ------------------------------------------------------------------------------------------

    @property
    def key_fields(self) -> tuple[str, ...]:
        pk = self.endpoint.primary_key
        if self.replication_key and not self.date_filter_fallback:
            return (self.replication_key, pk)
        return (pk,)

    @cached_property
    def requested_fields(self) -> tuple[str, ...]:
        """`fields[]` pushdown: only the selected top-level properties (keys always), or all when all are."""
        properties = list(self.schema["properties"])
        selected = [name for name in properties if self.mask.get(("properties", name), True)]
        keys = [self.endpoint.primary_key, *([self.replication_key] if self.replication_key else [])]
        wanted = [name for name in properties if name in selected or name in keys]
        return () if len(wanted) == len(properties) else tuple(wanted)

    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """The later of the bookmark and `start_date`; the SDK's version cannot read phrases like `7 days ago`."""
        start = self._tap.start_date  # type: ignore[attr-defined]
        if start is None or pendulum.parse(str(value)) >= start:
            return value
        return start.isoformat()

    def window(self, context: Context | None) -> tuple[pendulum.DateTime | None, pendulum.DateTime | None]:
        """The [start, end) window of this run in the instance zone; None means unbounded."""
        tap = self._tap
        start = None
        if self.replication_key:
            bookmark = self.get_starting_replication_key_value(context)
            if bookmark and self.stream_state.get("replication_key_value") == bookmark:
                start = pendulum.parse(str(bookmark))
                if self.endpoint.created_key:
                    start = start.subtract(days=float(self.config.get("lookback_window_days", 1)))
                    if tap.start_date is not None:  # type: ignore[attr-defined]
                        start = max(start, tap.start_date)  # type: ignore[attr-defined]
            else:
                start = tap.start_date  # type: ignore[attr-defined]
        return start, tap.end_date  # type: ignore[attr-defined]

    def base_query(self, context: Context | None = None) -> ListQuery:
        filters = []
        start, end = self.window(context)
        if self.replication_key and not self.date_filter_fallback:
            tz = self._tap.timezone  # type: ignore[attr-defined]
            if start is not None:
                filters.append(condition(self.replication_key, "gte", to_daktela(start, tz)))
            if end is not None:
                filters.append(condition(self.replication_key, "lt", to_daktela(ceil_to_second(end), tz)))
        return ListQuery(
            filters=tuple(filters),
            sort=self.key_fields,
            fields=self.requested_fields,
            take=self._tap.page_size,  # type: ignore[attr-defined]
        )

    def _has_date_filter(self, response: requests.Response) -> bool:
        return bool(self.replication_key) and f"={self.replication_key}&" in requests.utils.unquote(
            response.request.url or ""
        )

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        query = self.base_query(context)
        try:
            yield from self.read_list(query)
            return
        except DateFilterRejected as exc:
            self.logger.warning(
                "%s: the endpoint rejected a filter on '%s' (HTTP 400%s); reading it without the date filter "
                "and filtering in the tap",
                self.name,
                self.replication_key,
                f": {exc}" if str(exc) else "",
            )
        self.date_filter_fallback = True
        start, end = self.window(context)
        tz = self._tap.timezone  # type: ignore[attr-defined]
        low = to_daktela(start, tz) if start is not None else None
        high = to_daktela(ceil_to_second(end), tz) if end is not None else None
        for record in self.read_list(replace(self.base_query(context), filters=())):
            value = record.get(self.replication_key)
            if value is None or (low is not None and value < low) or (high is not None and value >= high):
                continue
            yield record

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        return self.shaper(row)

    @cached_property
    def shaper(self) -> RecordShaper:
        selected = {name for name in self.schema["properties"] if self.mask[("properties", name)]}
        converter = LocalTimeConverter(self._tap.timezone)  # type: ignore[attr-defined]
        return RecordShaper(self.schema, converter, selected, flat=bool(self.config.get("flatten_records")))

    def _generate_record_messages(self, record: dict) -> t.Generator[RecordMessage, None, None]:
        """RECORD messages for a record that `RecordShaper` already projected to the selected properties.

        The SDK's version walks every nested key of every record against the selection mask; for Daktela's
        deeply expanded records that walk was two thirds of the tap's CPU time, and the shaper has already done
        the (top-level) selection. Stream maps still apply.
        """
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )


def _is_count(value: t.Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.strip().isdigit()


def _describe(exception: t.Any) -> str:
    if isinstance(exception, RetriableAPIError):
        return str(exception)
    return f"{type(exception).__name__} talking to Daktela"


logging.getLogger("urllib3").setLevel(logging.WARNING)
