"""ListReader, KeysetPaginator and the keyset conditions against a small in-memory list server (no network).

The fake server evaluates the filter conditions built by `tap_daktela.query`, sorts, applies skip/take (capped at its
own maximum) and answers `total` = matches of the filter, as Daktela does. A hook runs before each request (under the
server's lock, so each request sees one consistent state) to change the list while it is being read.
"""

from __future__ import annotations

import math
import operator
import threading
import typing as t
from dataclasses import dataclass, replace

import pytest

from tap_daktela.paging import KeysetPaginator, ListReader, Page, up_to_key
from tap_daktela.query import Condition, ListQuery, after_key, all_of, condition

KEY = ("edited", "name")
OPERATORS: dict[str, t.Callable[[t.Any, t.Any], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def matches(record: dict, cond: Condition) -> bool:
    if "logic" in cond:
        results = (matches(record, inner) for inner in cond["filters"])
        return all(results) if cond["logic"] == "and" else any(results)
    return OPERATORS[cond["operator"]](record[cond["field"]], cond["value"])


def make_records(count: int, ties: int = 3) -> list[dict]:
    """`ties` records share each `edited` value, so the first sort key alone never identifies a record."""
    return [{"edited": index // ties, "name": f"r{index:03d}"} for index in range(count)]


def key_of(record: dict) -> tuple:
    return (record["edited"], record["name"])


class Decoder:
    def key(self, raw: dict) -> tuple:
        return key_of(raw)

    def record(self, raw: dict) -> dict:
        return dict(raw)


@dataclass
class Body:
    page: Page

    def load(self) -> Page:
        return self.page


Hook = t.Callable[["FakeList", ListQuery, int], None]


class FakeList:
    """A Daktela list endpoint over a Python list; counts requests and remembers what changed."""

    def __init__(self, records: list[dict], max_take: int | None = None, before_request: Hook | None = None) -> None:
        self.records = [dict(record) for record in records]
        self.max_take = max_take
        self.before_request = before_request
        self.queries: list[ListQuery] = []
        self.page_sizes: list[int] = []
        self.deleted: set[str] = set()
        self.updated: set[str] = set()
        self.inserted: set[str] = set()
        self.lock = threading.Lock()

    @property
    def requests(self) -> int:
        return len(self.queries)

    def ordered(self, sort: t.Sequence[str] = KEY) -> list[dict]:
        return sorted(self.records, key=lambda record: tuple(record[field] for field in sort))

    def select(self, cond: Condition) -> list[dict]:
        return [record for record in self.ordered() if matches(record, cond)]

    # mutations (called from hooks, already under the lock)
    def delete_at(self, position: int) -> None:
        record = self.ordered()[position]
        self.records.remove(record)
        self.deleted.add(record["name"])

    def move_to_end(self, position: int) -> None:
        record = self.ordered()[position]
        record["edited"] = max(other["edited"] for other in self.records) + 1
        self.updated.add(record["name"])

    def insert(self, edited: int, name: str) -> None:
        self.records.append({"edited": edited, "name": name})
        self.inserted.add(name)

    # the endpoint
    def fetch_page(self, query: ListQuery) -> Page:
        with self.lock:
            number = len(self.queries)
            self.queries.append(query)
            if self.before_request is not None:
                self.before_request(self, query, number)
            matching = [r for r in self.ordered(query.sort) if all(matches(r, f) for f in query.filters)]
            take = query.take if self.max_take is None else min(query.take, self.max_take)
            raws = [dict(record) for record in matching[query.skip : query.skip + take]]
            self.page_sizes.append(len(raws))
            return Page(raws=raws, total=len(matching))

    def fetch_body(self, query: ListQuery) -> Body:
        return Body(self.fetch_page(query))

    def reader(self, take: int, concurrency: int, after_page: t.Callable[[], None] = lambda: None) -> ListReader:
        # Positional on purpose: the injected callables are the reader's first three parameters.
        return ListReader(
            self.fetch_page, self.fetch_body, Decoder(), ListQuery(sort=KEY, take=take), KEY, concurrency, after_page
        )


def read_all(reader: ListReader) -> list[dict]:
    return list(reader.records())


def assert_consistent(fake: FakeList, initial: list[dict], out: list[dict]) -> None:
    """Untouched records exactly once, every emitted key strictly after the previous one, nothing lost."""
    keys = [key_of(record) for record in out]
    assert keys == sorted(set(keys)), "records are not in strictly increasing key order"
    names = [record["name"] for record in out]
    touched = fake.deleted | fake.updated
    for record in initial:
        if record["name"] not in touched:
            assert names.count(record["name"]) == 1, record
    for name in fake.deleted | fake.inserted:
        assert names.count(name) <= 1, name
    for name in fake.updated:
        # an updated record moves to the end: it may be emitted in its old and in its new version, never lost
        assert 1 <= names.count(name) <= 2, name


def expected_concurrent_requests(total: int, take: int) -> int:
    """First page + the offset pages + one tail request (see `ListReader.records`)."""
    if total <= take:
        return 1
    return 1 + (math.ceil((total - take) / (take - 1)) - 1) + 1


# --- no mutation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize("count", [0, 1, 7, 10])
def test_a_list_that_fits_one_page_costs_one_request(count, concurrency):
    fake = FakeList(make_records(count))
    reader = fake.reader(take=10, concurrency=concurrency)
    out = read_all(reader)
    assert out == make_records(count)
    assert fake.requests == reader.requests == 1
    assert reader.repairs == 0


@pytest.mark.parametrize("count", [11, 12, 15, 20, 23, 50])
def test_sequential_read_costs_ceil_total_over_take_requests(count):
    fake = FakeList(make_records(count))
    reader = fake.reader(take=5, concurrency=1)
    out = read_all(reader)
    assert out == make_records(count)
    assert fake.requests == reader.requests == math.ceil(count / 5)
    assert all(query.skip == 0 for query in fake.queries), "sequential reads are keyset reads"
    assert 0 not in fake.page_sizes, "`total` ends the loop, never an empty page"
    assert reader.repairs == 0


@pytest.mark.parametrize("count", [11, 12, 20, 21, 37, 50])
def test_concurrent_read_yields_every_record_once_in_key_order(count):
    fake = FakeList(make_records(count))
    reader = fake.reader(take=5, concurrency=3)
    out = read_all(reader)
    assert out == make_records(count)
    assert fake.requests == reader.requests == expected_concurrent_requests(count, 5)
    assert 0 not in fake.page_sizes, "`total` ends the loop, never an empty page"
    assert reader.repairs == 0
    offsets = sorted(query.skip for query in fake.queries if query.skip)
    assert offsets == list(range(4, 4 * (len(offsets) + 1), 4)), "offset pages overlap the previous one by one"


@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize("count", [9, 12, 13, 40])
def test_server_capping_take_below_the_requested_take(count, concurrency):
    fake = FakeList(make_records(count), max_take=4)
    reader = fake.reader(take=10, concurrency=concurrency)
    out = read_all(reader)
    assert out == make_records(count)
    assert 0 not in fake.page_sizes
    if concurrency == 1:
        assert fake.requests == reader.requests == math.ceil(count / 4)
    else:
        assert fake.requests == reader.requests == expected_concurrent_requests(count, 4)
        offset_queries = [query for query in fake.queries if query.skip]
        assert all(query.take == 4 for query in offset_queries), "offset pages use the take the server granted"
        assert all(query.skip % 3 == 0 for query in offset_queries)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_after_page_runs_once_per_emitted_page_at_its_end(concurrency):
    boundaries: list[int] = []
    out: list[dict] = []
    fake = FakeList(make_records(20))
    reader = fake.reader(take=5, concurrency=concurrency, after_page=lambda: boundaries.append(len(out)))
    for record in reader.records():
        out.append(record)
    assert out == make_records(20)
    assert boundaries == ([5, 10, 15, 20] if concurrency == 1 else [5, 9, 13, 17, 20])
    assert len(boundaries) == reader.requests


# --- mutations during the read -------------------------------------------------------------------------------------
# Fewer changes than a page's stride (take - 1) happen during each read: the regression tests at the end go further.


def delete_first(fake: FakeList, query: ListQuery, number: int) -> None:
    """Before requests 1-3: delete the first record of the list (before any offset, already emitted)."""
    if 1 <= number <= 3:
        fake.delete_at(0)


def move_first_to_end(fake: FakeList, query: ListQuery, number: int) -> None:
    """Before requests 1-3: update the first record, which moves it to the end of the `edited` order."""
    if 1 <= number <= 3:
        fake.move_to_end(0)


def delete_and_move(fake: FakeList, query: ListQuery, number: int) -> None:
    if number == 1:
        fake.delete_at(2)
    elif number == 2:
        fake.move_to_end(0)
    elif number == 4:
        fake.move_to_end(5)


def insert_records(fake: FakeList, query: ListQuery, number: int) -> None:
    """Before requests 1-3: insert one record early in the list (a tie on `edited`) and one at the end."""
    if 1 <= number <= 3:
        fake.insert(0, f"a{number}")  # sorts before r000..r002, which share edited == 0
        fake.insert(10_000 + number, f"z{number}")


MUTATIONS = {
    "delete": delete_first,
    "update": move_first_to_end,
    "delete+update": delete_and_move,
    "insert": insert_records,
}


@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize("mutation", MUTATIONS)
def test_changes_during_the_read_lose_nothing(mutation, concurrency):
    initial = make_records(60)
    fake = FakeList(initial, before_request=MUTATIONS[mutation])
    pages: list[int] = []
    reader = fake.reader(take=8, concurrency=concurrency, after_page=lambda: pages.append(1))
    out = read_all(reader)
    assert_consistent(fake, initial, out)
    assert fake.requests == reader.requests
    if concurrency > 1:
        # The first page was read before any change, every offset page after one: the first offset page no
        # longer starts where the first page ended, so its range is re-read by key.
        assert reader.repairs > 0
    else:
        assert reader.repairs == 0
    # A repaired offset page is not emitted itself, its re-read pages are.
    assert len(pages) == reader.requests - reader.repairs
    if mutation in ("update", "delete+update"):
        final = {record["name"]: key_of(record) for record in fake.records}
        emitted = {key_of(record) for record in out}
        assert all(final[name] in emitted for name in fake.updated), "updated records are read at their new place"
    if mutation == "insert":
        names = {record["name"] for record in out}
        assert {"z1", "z2", "z3"} <= names, "records inserted at the end are read"


def test_plain_skip_take_loses_a_record_that_the_reader_keeps():
    initial = make_records(20)

    def delete_an_emitted_record(fake: FakeList, query: ListQuery, number: int) -> None:
        if number == 1:
            fake.delete_at(0)

    # Control: plain skip/take, as a naive tap would read.
    fake = FakeList(initial, before_request=delete_an_emitted_record)
    plain: list[dict] = []
    skip = 0
    while True:
        page = fake.fetch_page(ListQuery(sort=KEY, skip=skip, take=5))
        plain.extend(page.raws)
        skip += len(page.raws)
        if not page.raws or skip >= page.total:
            break
    plain_names = {record["name"] for record in plain}
    assert "r005" not in plain_names, "r005 slid to position 4, already skipped"
    assert plain_names == {record["name"] for record in initial} - {"r005"}

    for concurrency in (1, 3):
        fake = FakeList(initial, before_request=delete_an_emitted_record)
        reader = fake.reader(take=5, concurrency=concurrency)
        out = read_all(reader)
        assert_consistent(fake, initial, out)
        assert [record["name"] for record in out] == [record["name"] for record in initial]
        assert reader.repairs == (1 if concurrency > 1 else 0)


def test_emptied_offset_pages_end_in_the_keyset_tail():
    """Most of the list vanishes after the first page: the offset pages come back empty and are skipped."""
    initial = make_records(30)

    def delete_most(fake: FakeList, query: ListQuery, number: int) -> None:
        if number == 1:
            for _ in range(24):
                fake.delete_at(5)

    fake = FakeList(initial, before_request=delete_most)
    out = read_all(fake.reader(take=5, concurrency=3))
    assert_consistent(fake, initial, out)
    assert [record["name"] for record in out] == [record["name"] for record in initial[:5]] + ["r029"]


# --- keyset conditions ---------------------------------------------------------------------------------------------


TIED = [
    {"edited": edited, "name": name, "id": ident}
    for edited, name, ident in [
        (1, "a", 1),
        (1, "b", 1),
        (1, "b", 2),
        (1, "c", 1),
        (2, "a", 1),
        (2, "a", 2),
        (2, "b", 1),
        (3, "a", 1),
    ]
]


@pytest.mark.parametrize("fields", [("edited",), ("edited", "name"), ("edited", "name", "id")])
def test_after_key_and_up_to_key_split_the_order_at_a_key_with_ties(fields):
    ordered = sorted(TIED, key=lambda record: tuple(record[field] for field in fields))
    for record in ordered:
        key = tuple(record[field] for field in fields)
        after = [r for r in ordered if matches(r, after_key(fields, key))]
        up_to = [r for r in ordered if matches(r, up_to_key(fields, key))]
        assert after == [r for r in ordered if tuple(r[field] for field in fields) > key]
        assert up_to == [r for r in ordered if tuple(r[field] for field in fields) <= key]
        assert len(after) + len(up_to) == len(ordered)


def test_up_to_key_conditions():
    assert up_to_key(("name",), ("x",)) == condition("name", "lte", "x")
    assert up_to_key(("edited", "name"), (5, "x")) == {
        "logic": "or",
        "filters": [
            condition("edited", "lt", 5),
            {"logic": "and", "filters": [condition("edited", "eq", 5), condition("name", "lte", "x")]},
        ],
    }


def test_between_two_keys_on_tied_first_key():
    fields = ("edited", "name", "id")
    chosen = [r for r in TIED if matches(r, all_of(after_key(fields, (1, "b", 1)), up_to_key(fields, (2, "a", 2))))]
    assert [(r["edited"], r["name"], r["id"]) for r in chosen] == [(1, "b", 2), (1, "c", 1), (2, "a", 1), (2, "a", 2)]


def test_keyset_paginator_keeps_the_base_filters_and_stops_on_total():
    base = condition("type", "eq", "call")
    start = ListQuery(filters=(base,), sort=KEY, skip=7, take=2)
    paginator = KeysetPaginator(start, KEY, key_of)
    page = Page(raws=[{"edited": 1, "name": "a"}, {"edited": 1, "name": "b"}], total=5)
    assert paginator.has_more(page)  # type: ignore[arg-type]
    paginator.advance(page)  # type: ignore[arg-type]
    assert paginator.current_value == replace(start, filters=(base, after_key(KEY, (1, "b"))), skip=0)
    last = Page(raws=[{"edited": 2, "name": "a"}, {"edited": 3, "name": "a"}, {"edited": 4, "name": "a"}], total=3)
    assert not paginator.has_more(last)  # type: ignore[arg-type]
    assert not paginator.has_more(Page(raws=[], total=0))  # type: ignore[arg-type]
    assert not paginator.has_more(Page(raws=[], total=4))  # type: ignore[arg-type]
    paginator.advance(last)  # type: ignore[arg-type]
    assert paginator.finished


# --- regressions: bugs these tests found -------------------------------------------------------------------------


def test_offset_pages_served_out_of_order_after_many_deletions_move_the_cursor_back():
    """Page 2 (skip 4) is served before page 1 (skip 2), and `take - 1` records are deleted in between: page 2 then
    ends before the key page 1's repair already reached, and `last = page_last` moves the cursor back."""
    initial = make_records(20)
    skip4_served = threading.Event()

    def delete_before_skip_2(fake: FakeList, query: ListQuery, number: int) -> None:
        if query.skip == 2:
            for _ in range(3):
                fake.delete_at(0)  # r000..r002, already emitted by the first page

    fake = FakeList(initial, before_request=delete_before_skip_2)

    def fetch_body(query: ListQuery) -> Body:
        if query.skip == 2:
            assert skip4_served.wait(5)
        body = fake.fetch_body(query)
        if query.skip == 4:
            skip4_served.set()
        return body

    reader = ListReader(fake.fetch_page, fetch_body, Decoder(), ListQuery(sort=KEY, take=3), KEY, 3)
    out = read_all(reader)
    assert skip4_served.is_set()
    assert_consistent(fake, initial, out)


def test_record_moved_to_the_end_while_the_last_offset_page_is_repaired_is_lost():
    """The tail is requested ahead, before the last offset page's continuity check. When that page needs a repair,
    a record of its range that moves to the end after the tail was served and before the repair is read by
    neither: not by the repair (its key is past the range now) nor by the tail (served before it moved)."""
    initial = make_records(20)  # take 5: first page r000-r004, offset pages at 4, 8, 12, tail after page 12's last
    skip8_served = threading.Event()
    tail_served = threading.Event()

    def mutate(fake: FakeList, query: ListQuery, number: int) -> None:
        if query.skip == 12:
            fake.delete_at(9)  # r009, read by the page at skip 8: the page at skip 12 no longer follows it
        elif query.skip == 0 and len(query.filters) == 2:  # the repair of the last offset page: (r012, r017]
            fake.move_to_end(14)  # r015 (r009 is gone)

    fake = FakeList(initial, before_request=mutate)

    def fetch_body(query: ListQuery) -> Body:
        if query.skip == 12:
            assert skip8_served.wait(5)
        body = fake.fetch_body(query)
        if query.skip == 8:
            skip8_served.set()
        elif query.skip == 0:
            tail_served.set()
        return body

    def fetch_page(query: ListQuery) -> Page:
        if len(query.filters) == 2:
            tail_served.wait(0.5)  # a tail fetched ahead (the old bug) is served before the repair
        return fake.fetch_page(query)

    reader = ListReader(fetch_page, fetch_body, Decoder(), ListQuery(sort=KEY, take=5), KEY, 3)
    out = read_all(reader)
    assert reader.repairs == 1
    assert fake.updated == {"r015"}
    assert_consistent(fake, initial, out)
