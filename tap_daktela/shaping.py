"""Shaping raw Daktela records to the declared schema, in one pass per record.

Replaces the SDK's generic type conformance (a large share of a tap's CPU time). Per declared property:
- scalars: naive datetimes get the instance offset; the odd value that arrives with another JSON type (`"0"` for
  a boolean, `"12"` for an integer) is coerced;
- declared objects are projected to their declared properties; PHP's `[]` for an empty object becomes null
  (`customFields`: `{}`, the same every row);
- references to other records (see `references`), when the schema declares them as keys, become the key and
  title (`{"name", "title"}`) or, for arrays, the list of keys;
- custom fields: a single-valued one (declared as a string) carries its one value, a multi-valued one (an array)
  its non-null values; unset (`[]`, `[null]`) is null;
- free-form values (`options`, deeper objects, arrays) pass as they are, minus Daktela's internals (`_sys`,
  `_rdata`, `_guiData`) at every depth.
Fields a record carries that the schema does not declare are never emitted; their names are collected in
`undeclared` so the stream can say once which fields an outdated catalog misses.
"""

from __future__ import annotations

import typing as t

import orjson

from tap_daktela.flattening import SEPARATOR, is_scalar, schema_types
from tap_daktela.references import Reference, key_of

Converter = t.Callable[[t.Any], t.Any]
INTERNAL_KEYS = frozenset({"_sys", "_rdata", "_guiData", "_access"})  # `_access`: single GETs only
# Credentials some nested records carry (a connector's token, an e-mail queue's OAuth token): never extracted.
SECRET_KEYS = frozenset({"accessToken", "apiToken", "oauthToken", "refreshToken", "password", "secret"})
DROPPED_KEYS = INTERNAL_KEYS | SECRET_KEYS
CUSTOM_FIELDS = "customFields"

# How a property is shaped (the first item of a plan step).
SCALAR, OBJECT, FREE, REF_MANY, CF_SINGLE, CF_MULTI = range(6)


def without_internals(value: t.Any) -> t.Any:
    """`value` with `_sys`, `_rdata`, `_guiData` and credentials removed at every depth."""
    kind = type(value)
    if kind is dict:
        return {key: without_internals(item) for key, item in value.items() if key not in DROPPED_KEYS}
    if kind is list:
        return [without_internals(item) for item in value]
    return value


def without_secret_properties(schema: dict) -> dict:
    """`schema` without properties named like credentials, at every depth: they are never extracted, so no
    column or field is declared for them."""
    out = dict(schema)
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {
            name: without_secret_properties(prop)
            for name, prop in schema["properties"].items()
            if name not in SECRET_KEYS
        }
    if isinstance(schema.get("items"), dict):
        out["items"] = without_secret_properties(schema["items"])
    return out


def json_cell(value: t.Any) -> str:
    """`value` as JSON text without internals and credentials (removing them from the serialized bytes with
    regular expressions was measured slower than this walk)."""
    return orjson.dumps(without_internals(value)).decode()


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


def custom_field_values(value: t.Any) -> list[str]:
    """A custom field's set values: Daktela sends a list of strings, `[]` or `[null]` when unset."""
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [item if isinstance(item, str) else _to_str(item) for item in value if item is not None and item != ""]


def single_custom_field(value: t.Any) -> str | None:
    """The one value of a single-valued custom field (several, which Daktela should not send, joined by ', ')."""
    values = custom_field_values(value)
    return ", ".join(str(item) for item in values) if values else None


def multi_custom_field(value: t.Any) -> list[str] | None:
    return custom_field_values(value) or None


Rule = tuple[frozenset, Converter | None]
_ANY: frozenset = frozenset()


def _rule(schema: dict, datetime_converter: Converter) -> Rule:
    """How one declared scalar is fixed up: values of the listed types pass unchanged, others go through the
    converter; no converter means every value passes. Checking the type inline costs no function call for the
    common case, a value that already has its declared type."""
    kinds = schema_types(schema) - {"null"}
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


def _declares_keys(prop: dict, reference: Reference) -> bool:
    """Whether the schema declares this reference as keys (`nested_objects: keys`) rather than a full copy."""
    allowed = {*reference.key_fields, "title"}
    if "array" in schema_types(prop) and reference.many:
        return is_scalar(prop.get("items") or {})
    properties = prop.get("properties")
    return bool(properties) and set(properties) <= allowed


def _everything(crumb: tuple[str, ...]) -> bool:
    return True


# A plan step: (property, column, how, passing types, converter, children steps or None, reference or None)
Step = tuple[str, str, int, frozenset, t.Any, t.Any, t.Any]


class RecordShaper:
    """Projects and fixes records of one stream; the per-property plan is computed once from its schema.

    With `flat`, it also flattens in the same pass (see `flattening`): nested declared objects become
    `parent_child` cells, deeper values JSON text, and null cells are left out (a CSV target writes them as
    empty cells anyway, and every key it need not parse and check is time saved).
    """

    def __init__(
        self,
        schema: dict,
        datetime_converter: Converter,
        selected: t.Callable[[tuple[str, ...]], bool] | None = None,
        *,
        flat: bool = False,
        references: t.Mapping[str, Reference] | None = None,
    ) -> None:
        """`selected(breadcrumb)`: whether a property is selected (all when None), e.g. `("customFields", "vin")`."""
        self.flat = flat
        self.references = references or {}
        self.datetime_converter = datetime_converter
        is_selected = selected or _everything
        self.plan = self._plan(schema, is_selected, ())
        properties = schema.get("properties", {})
        self.known = frozenset(properties) | INTERNAL_KEYS
        custom = properties.get(CUSTOM_FIELDS) or {}
        self.known_custom = frozenset(custom.get("properties") or ()) if custom.get("properties") else None
        self.undeclared: set[str] = set()

    def _plan(self, schema: dict, selected: t.Callable[[tuple[str, ...]], bool], parent: tuple[str, ...]) -> list:
        plan = []
        for name, prop in schema.get("properties", {}).items():
            crumb = (*parent, name)
            if name in SECRET_KEYS or not selected(crumb):
                continue
            column = SEPARATOR.join(crumb)
            kinds = schema_types(prop)
            reference = self.references.get(name) if not parent else None
            if reference is not None and not _declares_keys(prop, reference):
                reference = None
            if parent == (CUSTOM_FIELDS,):
                how = CF_MULTI if "array" in kinds else CF_SINGLE
                plan.append((name, column, how, _ANY, None, None, None))
            elif "object" in kinds and prop.get("properties"):
                # custom fields can be selected one by one; other objects are selected whole
                children_selected = selected if name == CUSTOM_FIELDS and not parent else _everything
                children = self._plan(prop, children_selected, crumb)
                plan.append((name, column, OBJECT, _ANY, None, children, reference))
            elif reference is not None:
                plan.append((name, column, REF_MANY, _ANY, None, None, reference))
            elif is_scalar(prop):
                plan.append((name, column, SCALAR, *_rule(prop, self.datetime_converter), None, None))
            else:
                plan.append((name, column, FREE, _ANY, "object" in kinds, None, None))
        return plan

    def __call__(self, record: dict) -> dict:
        return self._flatten(record) if self.flat else self._shape(record, self.plan)

    def note_undeclared(self, record: dict) -> None:
        """Remember top-level fields and custom fields the schema does not declare."""
        extra = record.keys() - self.known
        if extra:
            self.undeclared.update(extra)
        if self.known_custom is not None:
            custom = record.get(CUSTOM_FIELDS)
            if type(custom) is dict:
                extra = custom.keys() - self.known_custom
                if extra:
                    self.undeclared.update(f"{CUSTOM_FIELDS}.{name}" for name in extra)

    def _shape(self, record: dict, plan: list) -> dict:
        out = {}
        for name, _column, how, passes, convert, children, reference in plan:
            if name not in record:
                continue
            value = record[name]
            kind = type(value)
            if how == SCALAR:
                if value is None or convert is None or kind in passes or kind is dict or kind is list:
                    out[name] = value
                else:
                    out[name] = convert(value)
            elif value is None:
                out[name] = None
            elif how == OBJECT:
                if kind is dict:
                    out[name] = self._shape(value, children)
                elif reference is not None and kind is not list:
                    out[name] = key_of(reference, value)
                else:  # PHP's [] for an empty object
                    out[name] = {} if name == CUSTOM_FIELDS else None
            elif how == FREE:
                if convert and kind is list and not value:  # PHP's [] for an empty object
                    out[name] = {} if name == CUSTOM_FIELDS else None
                else:
                    out[name] = without_internals(value)
            elif how == REF_MANY:
                out[name] = key_of(reference, value)
            elif how == CF_SINGLE:
                out[name] = single_custom_field(value)
            else:
                out[name] = multi_custom_field(value)
        return out

    def _flatten(self, record: dict) -> dict:
        out: dict = {}
        self._flatten_into(out, record, self.plan, top=True)
        return out

    def _flatten_into(self, out: dict, record: dict, plan: list, *, top: bool) -> None:
        """Hot loop (~100 cells per record): inline type checks instead of a call per cell."""
        for name, column, how, passes, convert, children, reference in plan:
            value = record.get(name)
            if value is None:
                continue
            kind = type(value)
            if how == SCALAR:
                if kind is dict or kind is list:
                    out[column] = json_cell(value)
                elif convert is None or kind in passes:
                    out[column] = value
                else:
                    value = convert(value)
                    if value is not None:
                        out[column] = value
            elif how == OBJECT:
                if kind is dict:
                    if top:
                        self._flatten_into(out, value, children, top=False)
                    else:
                        out[column] = json_cell(value)
                elif reference is not None and kind is not list:
                    self._flatten_into(out, key_of(reference, value) or {}, children, top=False)
            elif how == FREE:
                if convert and kind is list and not value:  # PHP's [] for an empty object
                    if name == CUSTOM_FIELDS:
                        out[column] = "{}"
                else:
                    out[column] = json_cell(value)
            elif how == REF_MANY:
                out[column] = json_cell(key_of(reference, value))
            elif how == CF_SINGLE:
                value = single_custom_field(value)
                if value is not None:
                    out[column] = value
            else:
                value = multi_custom_field(value)
                if value is not None:
                    out[column] = json_cell(value)
