"""Daktela list queries in PHP bracket notation: filters, sort, field selection and paging.

Daktela parses query strings the PHP way, so nested filter groups are sent as
`filter[logic]=and&filter[filters][0][field]=edited&filter[filters][0][operator]=gte&...`.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

Condition = dict[str, t.Any]  # {"field", "operator", "value"} or {"logic", "filters"}
MAX_PAGE_SIZE = 1000  # the most records Daktela answers per request (`take`)


def condition(field: str, operator: str, value: t.Any) -> Condition:
    return {"field": field, "operator": operator, "value": value}


def all_of(*filters: Condition) -> Condition:
    return {"logic": "and", "filters": list(filters)}


def any_of(*filters: Condition) -> Condition:
    return {"logic": "or", "filters": list(filters)}


def after_key(sort_fields: t.Sequence[str], key: t.Sequence[t.Any]) -> Condition:
    """Records strictly after `key` in the order of `sort_fields` (keyset pagination).

    For (edited, name) after (e, n): `edited > e OR (edited = e AND name > n)`.
    """
    alternatives = []
    for position, field in enumerate(sort_fields):
        equal_prefix = [condition(prev, "eq", key[i]) for i, prev in enumerate(sort_fields[:position])]
        strictly_after = condition(field, "gt", key[position])
        alternatives.append(all_of(*equal_prefix, strictly_after) if equal_prefix else strictly_after)
    return alternatives[0] if len(alternatives) == 1 else any_of(*alternatives)


def _flatten(prefix: str, value: t.Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, out)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    elif value is None:
        out.append((prefix, ""))
    else:
        out.append((prefix, str(value)))


@dataclass(frozen=True)
class ListQuery:
    """One request of a list endpoint."""

    filters: tuple[Condition, ...] = ()
    sort: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    skip: int = 0
    take: int = 1000
    descending: bool = False  # the sort direction of every sort field

    def params(self) -> list[tuple[str, str]]:
        """Query parameters as ordered pairs, ready for `requests` to encode."""
        out: list[tuple[str, str]] = []
        if self.filters:
            _flatten("filter", all_of(*self.filters), out)
        for index, field in enumerate(self.sort):
            out.append((f"sort[{index}][field]", field))
            out.append((f"sort[{index}][dir]", "desc" if self.descending else "asc"))
        for index, field in enumerate(self.fields):
            out.append((f"fields[{index}]", field))
        out.append(("skip", str(self.skip)))
        out.append(("take", str(self.take)))
        return out
