"""Turn finished CSV files into Keboola tables: valid column names, stable column sets, manifests and state.

Columns come from the flat schema the tap sends (written as the CSV header by target-csv), never from records.
A table keeps every column an earlier run wrote (kept in the state), so downstream tables never lose one.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from keboola.component import CommonInterface
from keboola.component.dao import BaseType, ColumnDefinition, SupportedDataTypes

log = logging.getLogger(__name__)

MAX_COLUMN_LENGTH = 64  # Keboola Storage limit on column names


def sanitize_column(name: str) -> str:
    """Make a Keboola-valid column name: letters, digits and underscores, not starting with '_', <= 64 chars."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name).lstrip("_")
    return (clean or "column")[:MAX_COLUMN_LENGTH]


def sanitize_columns(names: Iterable[str], *, table: str | None = None) -> list[str]:
    """Sanitize a header, keeping names unique.

    When two source names give the same column name (e.g. `a-b` and `a_b`, or two names alike but for case, as
    Storage compares column names case-insensitively), the first keeps it and each later one gets the lowest free
    numeric suffix `_2`, `_3`, ... in header order, so the result is the same every run. With `table`, each
    such clash is logged once, naming both source names.
    """
    result: list[str] = []
    owners: dict[str, str] = {}  # lower-cased column name -> source name that took it
    for name in names:
        candidate = base = sanitize_column(name)
        counter = 1
        while candidate.lower() in owners:
            counter += 1
            suffix = f"_{counter}"
            candidate = base[: MAX_COLUMN_LENGTH - len(suffix)] + suffix
        if counter > 1 and table is not None:
            log.warning(
                "Table '%s': source fields '%s' and '%s' both give the column name '%s'; '%s' is written as '%s'.",
                table,
                owners[base.lower()],
                name,
                base,
                name,
                candidate,
            )
        owners[candidate.lower()] = name
        result.append(candidate)
    return result


def missing_columns(wanted: Iterable[str], columns: Iterable[str]) -> list[str]:
    """The names of `wanted` (sanitized like columns) that are not among `columns` (case-insensitively)."""
    present = {c.lower() for c in columns}
    return [name for name in wanted if sanitize_column(name).lower() not in present]


def keboola_type(prop: Mapping[str, Any]) -> str:
    """Map a flat JSON-schema property to a Keboola base type (INTEGER, NUMERIC, BOOLEAN, TIMESTAMP, STRING)."""
    types = prop.get("type", "string")
    types = [types] if isinstance(types, str) else list(types or [])
    types = [t for t in types if t != "null"]
    if len(types) != 1:
        return SupportedDataTypes.STRING.value
    kind = types[0]
    if kind == "string" and prop.get("format") == "date-time":
        return SupportedDataTypes.TIMESTAMP.value
    if kind == "string" and prop.get("format") == "date":
        return SupportedDataTypes.DATE.value
    return {
        "integer": SupportedDataTypes.INTEGER.value,
        "number": SupportedDataTypes.NUMERIC.value,
        "boolean": SupportedDataTypes.BOOLEAN.value,
    }.get(kind, SupportedDataTypes.STRING.value)


def column_types(flat_schema: Mapping[str, Any]) -> dict[str, str]:
    """Keboola type of every column of a flat schema, keyed by the sanitized column name."""
    props = flat_schema.get("properties", {})
    names = sanitize_columns(props)
    return {name: keboola_type(prop) for name, prop in zip(names, props.values(), strict=True)}


def merge_columns(current: list[str], previous: list[str]) -> list[str]:
    """Final column order: earlier runs' columns first (none dropped), then new ones in schema order."""
    seen = {c.lower() for c in previous}
    return list(previous) + [c for c in current if c.lower() not in seen]


def read_header(path: Path) -> list[str]:
    """The header row of a CSV file (empty when the file is empty)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh), [])


def finalize_csv(path: Path, raw_header: list[str], final_columns: list[str]) -> None:
    """Rewrite the CSV with the final header and column order, streaming row by row (memory stays flat).

    Columns missing from this run (kept from earlier runs) become empty cells. Nothing happens when the file
    already has exactly the final header.
    """
    sanitized = sanitize_columns(raw_header)
    if sanitized == final_columns and raw_header == final_columns:
        return
    index = {name: i for i, name in enumerate(sanitized)}
    positions = [index.get(name) for name in final_columns]
    tmp = path.with_suffix(path.suffix + ".tmp")
    with path.open(encoding="utf-8", newline="") as src, tmp.open("w", encoding="utf-8", newline="") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst, dialect="excel")
        next(reader, None)
        writer.writerow(final_columns)
        for row in reader:
            writer.writerow(["" if p is None or p >= len(row) else row[p] for p in positions])
    os.replace(tmp, path)


def write_empty_csv(path: Path, columns: list[str]) -> None:
    """A header-only table, for a stream that produced no file at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, dialect="excel").writerow(columns)


def write_table_manifest(
    ci: CommonInterface,
    endpoint: str,
    columns: list[str],
    types: Mapping[str, str],
    primary_key: list[str],
    incremental: bool,
) -> None:
    """Write `{endpoint}.csv.manifest` through keboola.component (typed schema, primary key, incremental flag)."""
    pk = set(primary_key)
    schema = {
        name: ColumnDefinition(
            data_types=BaseType(dtype=types.get(name, SupportedDataTypes.STRING.value)),
            nullable=name not in pk,
            primary_key=name in pk,
        )
        for name in columns
    }
    table = ci.create_out_table_definition(
        f"{endpoint}.csv",
        primary_key=[c for c in primary_key if c in columns],
        schema=schema,
        incremental=incremental,
        has_header=True,
    )
    ci.write_manifest(table)


def merge_state(
    previous: Mapping[str, Any],
    bookmarks: Mapping[str, Any],
    tables: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Next out/state.json: earlier entries kept, this run's bookmarks and table columns laid over them.

    Only streams that finished are passed in, so a bookmark never moves for data that was not delivered.
    """
    state = {
        "bookmarks": dict(previous.get("bookmarks") or {}),
        "tables": {k: dict(v) for k, v in (previous.get("tables") or {}).items()},
    }
    for stream, bookmark in bookmarks.items():
        if bookmark:
            state["bookmarks"][stream] = bookmark
    for table, info in tables.items():
        state["tables"][table] = dict(info)
    return state
