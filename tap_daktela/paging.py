"""Reading a whole Daktela list, concurrently, without losing records that change during the read.

Plain skip/take over a sorted list loses a record whenever one before it is deleted or moves (an update moves
a record to the end of an `edited` order) between two page requests. The reader therefore:

1. reads the first page, which also tells `total`;
2. fetches the pages in between concurrently by offset, each overlapping the previous one by one record,
   and checks continuity while emitting them in order: when a page does not contain the previous page's last
   record, the gap is re-read by key (`after previous last` and `before this first`), server-side;
3. reads the rest by key (keyset pagination, `after the last emitted record`), sequentially, only after every
   offset page is done, so records inserted or moved to the end meanwhile are read too.

Without concurrency, or for short lists, it is pure keyset pagination. A list that fits one page costs one
request; `total` ends every loop, never an empty page.
"""

from __future__ import annotations

import math
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from singer_sdk.pagination import BaseAPIPaginator

from tap_daktela.query import Condition, ListQuery, after_key, any_of, condition


@dataclass
class Page:
    """One parsed list response: the records (in server order) and `total` matches of its filter."""

    records: list[dict]
    total: int


class RawPage(t.Protocol):
    """A fetched but not yet parsed response (kept compact while it waits for its turn)."""

    def load(self) -> Page: ...


def before_key(sort_fields: t.Sequence[str], key: t.Sequence[t.Any]) -> Condition:
    """Records strictly before `key` in the order of `sort_fields`."""
    alternatives = []
    for position, field in enumerate(sort_fields):
        prefix = [condition(prev, "eq", key[i]) for i, prev in enumerate(sort_fields[:position])]
        strictly_before = condition(field, "lt", key[position])
        alternatives.append({"logic": "and", "filters": [*prefix, strictly_before]} if prefix else strictly_before)
    return alternatives[0] if len(alternatives) == 1 else any_of(*alternatives)


def _drain(records: list[dict]) -> t.Iterator[dict]:
    """Yield records in order while letting go of each one, so a parsed page is freed as it is emitted."""
    records.reverse()
    while records:
        yield records.pop()


class KeysetPaginator(BaseAPIPaginator[ListQuery]):
    """Next query = the same query restricted to records after the last one read; done when `total` is read."""

    def __init__(self, start_value: ListQuery, key_fields: tuple[str, ...]) -> None:
        super().__init__(start_value)
        self.key_fields = key_fields
        self.base_filters = start_value.filters

    def has_more(self, response: Page) -> bool:  # type: ignore[override]
        # `total` counts every record after the cursor, so a page holding all of them is the last one.
        return 0 < len(response.records) < response.total

    def get_next(self, response: Page) -> ListQuery:  # type: ignore[override]
        last = response.records[-1]
        cursor = after_key(self.key_fields, [last.get(field) for field in self.key_fields])
        return replace(self.current_value, filters=(*self.base_filters, cursor), skip=0)


class ListReader:
    """Yields every record of one list query once, in key order; see the module docstring for how."""

    def __init__(
        self,
        fetch_now: t.Callable[[ListQuery], Page],
        fetch_later: t.Callable[[ListQuery], RawPage],
        query: ListQuery,
        key_fields: tuple[str, ...],
        concurrency: int,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.fetch_now = fetch_now
        self.fetch_later = fetch_later
        self.query = query
        self.key_fields = key_fields
        self.concurrency = max(1, concurrency)
        self.executor = executor
        self.requests = 0
        self.repairs = 0

    def _key(self, record: dict) -> list[t.Any]:
        return [record.get(field) for field in self.key_fields]

    def _get(self, query: ListQuery) -> Page:
        self.requests += 1
        return self.fetch_now(query)

    def _keyset(self, query: ListQuery) -> t.Iterator[dict]:
        """Sequential keyset pagination from `query` until its `total` is read."""
        paginator = KeysetPaginator(query, self.key_fields)
        while not paginator.finished:
            page = self._get(paginator.current_value)
            paginator.advance(page)  # type: ignore[arg-type]
            yield from _drain(page.records)

    def _pk(self, record: dict) -> t.Any:
        return record.get(self.key_fields[-1])

    def records(self) -> t.Iterator[dict]:
        first = self._get(self.query)
        if not first.records or len(first.records) >= first.total:
            yield from _drain(first.records)
            return
        take = len(first.records)  # the server may cap `take` below what was asked
        last = first.records[-1]
        previous_keys = {self._pk(record) for record in first.records}
        remaining = first.total - take
        yield from _drain(first.records)
        del first
        stride = take - 1
        middle = math.ceil(remaining / stride) - 1 if self.concurrency > 1 and stride > 0 else 0
        if middle > 0:
            offsets = [index * stride for index in range(1, middle + 1)]
            for page in self._ordered(offsets, replace(self.query, take=take)):
                if not page.records:
                    continue
                pks = [self._pk(record) for record in page.records]
                if self._pk(last) in pks:
                    fresh = page.records[pks.index(self._pk(last)) + 1 :]
                else:
                    # Something before this page vanished or moved since the previous page: re-read the gap.
                    self.repairs += 1
                    gap = replace(
                        self.query,
                        filters=(
                            *self.query.filters,
                            after_key(self.key_fields, self._key(last)),
                            before_key(self.key_fields, self._key(page.records[0])),
                        ),
                        skip=0,
                    )
                    yield from self._keyset(gap)
                    fresh = [record for record in page.records if self._pk(record) not in previous_keys]
                page.records.clear()
                if fresh:
                    last = fresh[-1]
                previous_keys = set(pks)
                yield from _drain(fresh)
        tail = replace(self.query, filters=(*self.query.filters, after_key(self.key_fields, self._key(last))), skip=0)
        yield from self._keyset(tail)

    def _ordered(self, offsets: list[int], query: ListQuery) -> t.Iterator[Page]:
        """Fetch pages at `offsets` with at most `concurrency` in flight; yield them parsed, in order."""
        owns_executor = self.executor is None
        executor = self.executor or ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="page")
        pending: deque[Future] = deque()
        waiting = iter(offsets)
        try:
            for offset in waiting:
                pending.append(executor.submit(self.fetch_later, replace(query, skip=offset)))
                self.requests += 1
                if len(pending) >= self.concurrency:
                    break
            while pending:
                raw = pending.popleft().result()
                for offset in waiting:
                    pending.append(executor.submit(self.fetch_later, replace(query, skip=offset)))
                    self.requests += 1
                    break
                yield raw.load()
        finally:
            for future in pending:
                future.cancel()
            if owns_executor:
                executor.shutdown(wait=True, cancel_futures=True)
