"""Reading a whole Daktela list, concurrently, without losing records that change during the read.

Plain skip/take over a sorted list loses a record whenever one before it is deleted or moves (an update moves
a record to the end of an `edited` order) between two page requests. The reader therefore:

1. reads the first page, which also tells `total`;
2. fetches the pages in between concurrently by offset, each overlapping the previous one by one record,
   and checks continuity while emitting them in order: when a page does not start with the previous page's
   last record, its range is re-read by key (`after the last emitted` up to `this page's last`), server-side;
3. reads the rest by key (keyset pagination, `after the last emitted record`), sequentially, once every
   offset page has been fetched, so records inserted or moved to the end meanwhile are read too. Its first
   request goes out while the last offset page is being emitted, which hides one round trip per stream.

Without concurrency, or for short lists, it is pure keyset pagination. A list that fits one page costs one
request; `total` ends every loop, never an empty page.

Memory: a page stays raw JSON until its turn; its records are parsed one at a time as they are emitted
(a 1000-record page of expanded activities is ~17 MB of JSON but ~75 MB as Python objects). Only the first and
last record of a page are looked into before that, for the continuity check.
"""

from __future__ import annotations

import math
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from singer_sdk.pagination import BaseAPIPaginator

from tap_daktela.query import Condition, ListQuery, after_key, any_of, condition

Raw = t.Any  # one record's JSON text (a msgspec.Raw slice of the response body)
Key = tuple[t.Any, ...]


@dataclass
class Page:
    """One list response: its records as raw JSON, in server order, and `total` matches of its filter."""

    raws: list[Raw]
    total: int


class PageBody(t.Protocol):
    """A fetched but not yet decoded response (kept compact, possibly on disk, while it waits for its turn)."""

    def load(self) -> Page: ...


class RecordDecoder(t.Protocol):
    """How the reader looks into raw records: their sort key, and the full record when it is emitted."""

    def key(self, raw: Raw) -> Key: ...

    def record(self, raw: Raw) -> dict: ...


def _order(key: Key) -> tuple[tuple[bool, t.Any], ...]:
    """A key as Daktela sorts it ascending: nulls first."""
    return tuple((value is not None, value) for value in key)


def up_to_key(sort_fields: t.Sequence[str], key: t.Sequence[t.Any]) -> Condition:
    """Records at or before `key` in the order of `sort_fields`: for (edited, name) up to (e, n),
    `edited < e OR (edited = e AND name <= n)`."""
    alternatives = []
    for position, field in enumerate(sort_fields):
        prefix = [condition(prev, "eq", key[i]) for i, prev in enumerate(sort_fields[:position])]
        bound = condition(field, "lte" if position == len(sort_fields) - 1 else "lt", key[position])
        alternatives.append({"logic": "and", "filters": [*prefix, bound]} if prefix else bound)
    return alternatives[0] if len(alternatives) == 1 else any_of(*alternatives)


class KeysetPaginator(BaseAPIPaginator[ListQuery]):
    """Next query = the same query restricted to records after the last one read; done when `total` is read."""

    def __init__(self, start_value: ListQuery, key_fields: tuple[str, ...], key: t.Callable[[Raw], Key]) -> None:
        super().__init__(start_value)
        self.key_fields = key_fields
        self.key = key
        self.base_filters = start_value.filters

    def has_more(self, response: Page) -> bool:  # type: ignore[override]
        # `total` counts every record after the cursor, so a page holding all of them is the last one.
        return 0 < len(response.raws) < response.total

    def get_next(self, response: Page) -> ListQuery:  # type: ignore[override]
        cursor = after_key(self.key_fields, self.key(response.raws[-1]))
        return replace(self.current_value, filters=(*self.base_filters, cursor), skip=0)


class ListReader:
    """Yields every record of one list query once, in key order; see the module docstring for how."""

    def __init__(
        self,
        fetch_page: t.Callable[[ListQuery], Page],
        fetch_body: t.Callable[[ListQuery], PageBody],
        decoder: RecordDecoder,
        query: ListQuery,
        key_fields: tuple[str, ...],
        concurrency: int,
        after_page: t.Callable[[], None] = lambda: None,
    ) -> None:
        """`fetch_page` requests and decodes a page; `fetch_body` requests one to decode later (pages fetched ahead
        wait compactly); `after_page` runs each time a page's records have all been emitted (to release memory)."""
        self.after_page = after_page
        self.fetch_page = fetch_page
        self.fetch_body = fetch_body
        self.decoder = decoder
        self.query = query
        self.key_fields = key_fields
        self.concurrency = max(1, concurrency)
        self.requests = 0
        self.repairs = 0

    def _get(self, query: ListQuery) -> Page:
        self.requests += 1
        return self.fetch_page(query)

    def _emit(self, raws: list[Raw]) -> t.Iterator[dict]:
        """Parse and yield records in order, letting go of each raw record once it is parsed."""
        raws.reverse()
        while raws:
            yield self.decoder.record(raws.pop())
        self.after_page()

    def _keyset(self, query: ListQuery, first: Future | None = None) -> t.Iterator[dict]:
        """Sequential keyset pagination from `query` until its `total` is read; `first`: its first page,
        already requested."""
        paginator = KeysetPaginator(query, self.key_fields, self.decoder.key)
        while not paginator.finished:
            if first is not None:
                page, first = first.result().load(), None
            else:
                page = self._get(paginator.current_value)
            paginator.advance(page)  # type: ignore[arg-type]
            yield from self._emit(page.raws)

    def records(self) -> t.Iterator[dict]:
        key = self.decoder.key
        first = self._get(self.query)
        if not first.raws or len(first.raws) >= first.total:
            yield from self._emit(first.raws)
            return
        take = len(first.raws)  # the server may cap `take` below what was asked
        last = key(first.raws[-1])
        remaining = first.total - take
        yield from self._emit(first.raws)
        stride = take - 1
        middle = math.ceil(remaining / stride) - 1 if self.concurrency > 1 and stride > 0 else 0
        tail_ahead: Future | None = None
        if middle > 0:
            offsets = [index * stride for index in range(1, middle + 1)]
            for index, page in enumerate(self._ordered(offsets, replace(self.query, take=take)), start=1):
                if not page.raws:
                    continue
                page_last = key(page.raws[-1])
                continuous = key(page.raws[0]) == last
                if index == middle and continuous:
                    # The last offset page is in hand and needs no repair: ask for the tail now, so its round trip
                    # overlaps with emitting this page. It reads from the same key as it would afterwards. (After a
                    # repair it is asked later: a record of the repaired range could move past it meanwhile.)
                    tail_ahead = self._fetch_ahead(self._after(page_last))
                if continuous:
                    # The page starts with the record the previous page ended with: nothing in between moved.
                    del page.raws[0]
                    yield from self._emit(page.raws)
                    last = page_last
                elif _order(page_last) > _order(last):
                    # Something before this page vanished, moved or appeared since the previous page was read:
                    # read this page's range again by key, from the last record emitted.
                    self.repairs += 1
                    page.raws.clear()
                    yield from self._keyset(self._between(last, page_last))
                    last = page_last
                else:
                    # The page ends at or before what is already emitted (many records before it vanished): the
                    # cursor never moves back; the next page or the tail reads on from `last`.
                    page.raws.clear()
        yield from self._keyset(self._after(last), tail_ahead)

    def _narrowed(self, *conditions: Condition) -> ListQuery:
        """The list query from its first record, restricted further by `conditions` (a keyset read)."""
        return replace(self.query, filters=(*self.query.filters, *conditions), skip=0)

    def _after(self, key: Key) -> ListQuery:
        return self._narrowed(after_key(self.key_fields, key))

    def _fetch_ahead(self, query: ListQuery) -> Future:
        """Start fetching `query` on a thread of its own; `_keyset` picks the page up."""
        self.requests += 1
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tail")
        try:
            return executor.submit(self.fetch_body, query)
        finally:
            executor.shutdown(wait=False)

    def _between(self, after: Key, up_to: Key) -> ListQuery:
        return self._narrowed(after_key(self.key_fields, after), up_to_key(self.key_fields, up_to))

    def _ordered(self, offsets: list[int], query: ListQuery) -> t.Iterator[Page]:
        """Fetch pages at `offsets` with at most `concurrency` in flight; yield them decoded, in order.

        The worker threads live only while the offset pages are fetched."""
        executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="page")
        pending: deque[Future] = deque()
        waiting = iter(offsets)

        def submit_next() -> None:
            for offset in waiting:
                pending.append(executor.submit(self.fetch_body, replace(query, skip=offset)))
                self.requests += 1
                return

        try:
            for _ in range(self.concurrency):
                submit_next()
            while pending:
                raw_page = pending.popleft().result()
                submit_next()
                yield raw_page.load()
        finally:
            for future in pending:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)
