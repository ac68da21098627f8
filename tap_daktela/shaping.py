"""Shaping raw Daktela records to the declared schema, in one pass per record.

Replaces the SDK's generic type conformance (a large share of a tap's CPU time): only declared properties are
kept, naive datetimes get the instance offset, PHP's `[]` for an empty object becomes null, and the odd scalar
that arrives with another JSON type (`"0"` for a boolean, `"12"` for an integer) is coerced.
"""

from __future__ import annotations

import typing as t

import orjson

from tap_daktela.flattening import SEPARATOR

Converter = t.Callable[[t.Any], t.Any]


def _types(schema: dict) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _to_int(value: t.Any) -> t.Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        return None if text == "" else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _to_number(value: t.Any) -> t.Any:
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else None
        except ValueError:
            return value
    return value


def _to_bool(value: t.Any) -> t.Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes"):
            return True
        if lowered in ("0", "false", "no"):
            return False
        return None if lowered == "" else value
    if isinstance(value, int):
        return bool(value)
    return value


def _to_str(value: t.Any) -> t.Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _converter(schema: dict, datetime_converter: Converter) -> Converter | None:
    """How one declared scalar is fixed up; None when the value passes through unchanged."""
    kinds = _types(schema) - {"null"}
    if schema.get("format") == "date-time":
        return datetime_converter
    if kinds == {"integer"}:
        return lambda value: value if type(value) is int else _to_int(value)
    if kinds == {"number"}:
        return lambda value: value if type(value) in (int, float) else _to_number(value)
    if kinds == {"boolean"}:
        return lambda value: value if type(value) is bool else _to_bool(value)
    if kinds == {"string"}:
        return lambda value: value if type(value) is str else _to_str(value)
    return None


def _cell(value: t.Any, convert: Converter | None) -> t.Any:
    """One flat cell: objects and arrays as JSON text, scalars fixed up."""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return convert(value) if convert is not None else value


class RecordShaper:
    """Projects and fixes records of one stream; the per-property plan is computed once.

    With `flat`, it also flattens in the same pass (see `flattening`): nested declared objects become
    `parent_child` cells, deeper values JSON text, and null cells are left out (a CSV target writes them as
    empty cells anyway, and every key it need not parse and check is time saved: a flat activity is ~40% nulls).
    """

    def __init__(
        self,
        schema: dict,
        datetime_converter: Converter,
        selected: t.Container[str] | None = None,
        *,
        flat: bool = False,
    ) -> None:
        """`selected`: the top-level properties to keep (all when None)."""
        self.plan = [step for step in self._plan(schema, datetime_converter) if selected is None or step[0] in selected]
        self.flat = flat
        self.flat_plan = [
            (
                name,
                convert,
                None if nested is None else [(child, f"{name}{SEPARATOR}{child}", fix) for child, fix, _ in nested],
            )
            for name, convert, nested in self.plan
        ]

    @classmethod
    def _plan(cls, schema: dict, datetime_converter: Converter) -> list[tuple[str, Converter | None, list | None]]:
        plan = []
        for name, prop in schema.get("properties", {}).items():
            if "object" in _types(prop) and prop.get("properties"):
                plan.append((name, None, cls._plan(prop, datetime_converter)))
            else:
                plan.append((name, _converter(prop, datetime_converter), None))
        return plan

    def __call__(self, record: dict) -> dict:
        return self._flatten(record) if self.flat else self._shape(record, self.plan)

    def _shape(self, record: dict, plan: list) -> dict:
        out = {}
        for name, convert, nested in plan:
            if name not in record:
                continue
            value = record[name]
            if value is None:
                out[name] = None
            elif nested is not None:
                out[name] = self._shape(value, nested) if isinstance(value, dict) else None
            elif convert is not None and not isinstance(value, (dict, list)):
                out[name] = convert(value)
            else:
                out[name] = value
        return out

    def _flatten(self, record: dict) -> dict:
        out = {}
        for name, convert, children in self.flat_plan:
            value = record.get(name)
            if value is None:
                continue
            if children is None:
                cell = _cell(value, convert)
                if cell is not None:
                    out[name] = cell
            elif isinstance(value, dict):
                for child, column, fix in children:
                    child_value = value.get(child)
                    if child_value is not None:
                        cell = _cell(child_value, fix)
                        if cell is not None:
                            out[column] = cell
        return out
