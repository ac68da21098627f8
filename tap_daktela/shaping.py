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


Rule = tuple[frozenset, Converter | None]
_ANY: frozenset = frozenset()
_CONTAINERS = (dict, list)


def _rule(schema: dict, datetime_converter: Converter) -> Rule:
    """How one declared scalar is fixed up: values of the listed types pass unchanged, others go through the
    converter; no converter means every value passes. Checking the type inline costs no function call for the
    common case, a value that already has its declared type."""
    kinds = _types(schema) - {"null"}
    if schema.get("format") == "date-time":
        return _ANY, datetime_converter
    if kinds == {"integer"}:
        return frozenset({int}), _to_int
    if kinds == {"number"}:
        return frozenset({int, float}), _to_number
    if kinds == {"boolean"}:
        return frozenset({bool}), _to_bool
    if kinds == {"string"}:
        return frozenset({str}), _to_str
    return _ANY, None


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
        # flat columns in order: (property, column, passing types, converter, children as the same tuples or None)
        self.flat_plan = [
            (
                name,
                name,
                *rule,
                None if nested is None else [(child, f"{name}{SEPARATOR}{child}", *r, None) for child, r, _ in nested],
            )
            for name, rule, nested in self.plan
        ]

    @classmethod
    def _plan(cls, schema: dict, datetime_converter: Converter) -> list[tuple[str, Rule, list | None]]:
        plan = []
        for name, prop in schema.get("properties", {}).items():
            if "object" in _types(prop) and prop.get("properties"):
                plan.append((name, (_ANY, None), cls._plan(prop, datetime_converter)))
            else:
                plan.append((name, _rule(prop, datetime_converter), None))
        return plan

    def __call__(self, record: dict) -> dict:
        return self._flatten(record) if self.flat else self._shape(record, self.plan)

    def _shape(self, record: dict, plan: list) -> dict:
        out = {}
        for name, (passes, convert), nested in plan:
            if name not in record:
                continue
            value = record[name]
            if value is None:
                out[name] = None
            elif nested is not None:
                out[name] = self._shape(value, nested) if isinstance(value, dict) else None
            elif convert is None or type(value) in passes or isinstance(value, _CONTAINERS):
                out[name] = value
            else:
                out[name] = convert(value)
        return out

    def _flatten(self, record: dict) -> dict:
        out: dict = {}
        self._flatten_into(out, record, self.flat_plan)
        return out

    @classmethod
    def _flatten_into(cls, out: dict, record: dict, plan: list) -> None:
        """Hot loop (~100 cells per record): inline type checks instead of a call per cell."""
        dumps = orjson.dumps
        for name, column, passes, convert, children in plan:
            value = record.get(name)
            if value is None:
                continue
            kind = type(value)
            if children is not None:
                if kind is dict:
                    cls._flatten_into(out, value, children)
            elif kind is dict or kind is list:
                out[column] = dumps(value).decode()
            elif convert is None or kind in passes:
                out[column] = value
            else:
                value = convert(value)
                if value is not None:
                    out[column] = value
