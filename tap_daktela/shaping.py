"""Shaping raw Daktela records to the declared schema, in one pass per record.

Replaces the SDK's generic type conformance (a large share of a tap's CPU time). Per declared property:
- scalars: naive datetimes get the instance offset; the odd value that arrives with another JSON type (`"0"` for
  a boolean, `"12"` for an integer) is coerced;
- declared objects are projected to their declared properties; PHP's `[]` for an empty object becomes null
  (`customFields`: `{}`, the same every row);
- references to other records (see `references`), when the schema declares them as keys, become the key and
  title (`{"name", "title"}`) or, for arrays, the list of keys, at any declared depth (`connector.user`);
- custom fields: a single-valued one (declared as a string) carries its one value (unset: null), a multi-valued
  one (an array) its non-null values (unset: `[]`, as Daktela sends it; flattened, an empty cell);
- free-form values (`options`, deeper objects, arrays) pass as they are, minus Daktela's internals (`_sys`,
  `_rdata`, `_guiData`) at every depth; with `keys`, references inside them become keys too: at the paths
  `references.json` knows, and any embedded record whose `_sys.model` names a stream (a copy found where no
  path was known, e.g. a contact inside an activity's `options`).
Fields a record carries that the schema does not declare are never emitted; their names are collected in
`undeclared` so the stream can say once which fields an outdated catalog misses.
"""

from __future__ import annotations

import typing as t

import orjson

from tap_daktela.flattening import SEPARATOR, is_scalar, schema_types
from tap_daktela.references import Reference, key_of, model_reference

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
        return {
            key: without_internals(item) if type(item) in (dict, list) else item
            for key, item in value.items()
            if key not in DROPPED_KEYS
        }
    if kind is list:
        return [without_internals(item) if type(item) in (dict, list) else item for item in value]
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


def multi_custom_field(value: t.Any) -> list[str]:
    """A multi-valued custom field's values: `[]` when unset (`[]`, `[null]` or null), as Daktela sends it."""
    return custom_field_values(value)


Tree = dict  # path name -> Tree, or the Reference at the end of a path


def reference_tree(references: t.Mapping[str, Reference]) -> Tree:
    """`{"connector": {"user": Reference}}` from dotted paths, to follow into free-form values."""
    tree: Tree = {}
    for path, reference in references.items():
        *parents, last = path.split(".")
        node = tree
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = reference
    return tree


def without_copies(value: t.Any, tree: Tree | None) -> t.Any:
    """`value` without internals and credentials, every reference in it reduced to its key (and title): at the
    paths of `tree` (lists along the way are followed element by element) and wherever an embedded record names a
    streamed model (`_sys.model`). For `nested_objects: keys`."""
    kind = type(value)
    if kind is list:
        return [without_copies(item, tree) if type(item) in (dict, list) else item for item in value]
    if kind is not dict:
        return value
    system = value.get("_sys")
    if type(system) is dict:
        reference = model_reference(system.get("model") or "")
        if reference is not None:  # a copy of a streamed model's record
            return key_of(reference, value)
    out = {}
    for key, item in value.items():
        if key in DROPPED_KEYS:
            continue
        sub = tree.get(key) if tree else None
        if type(sub) is Reference:
            out[key] = key_of(sub, item)
        elif type(item) in (dict, list):
            out[key] = without_copies(item, sub)
        else:
            out[key] = item
    return out


Rule = tuple[frozenset, Converter | None]


def _rule(schema: dict, datetime_converter: Converter) -> Rule:
    """How one declared scalar is fixed up: values of the listed types pass unchanged, others go through the
    converter; no converter means every value passes. Checking the type inline costs no function call for the
    common case, a value that already has its declared type."""
    kinds = schema_types(schema) - {"null"}
    if schema.get("format") == "date-time":
        return frozenset(), datetime_converter
    if kinds == {"integer"}:
        return frozenset({int}), _to_int
    if kinds == {"number"}:
        return frozenset({int, float}), _to_number
    if kinds == {"boolean"}:
        return frozenset({bool}), _to_bool
    if kinds == {"string"}:
        return frozenset({str}), _to_str
    return frozenset(), None


def _declares_keys(prop: dict, reference: Reference) -> bool:
    """Whether the schema declares this reference as keys (`nested_objects: keys`) rather than a full copy."""
    allowed = {*reference.key_fields, "title"}
    if "array" in schema_types(prop) and reference.many:
        return is_scalar(prop.get("items") or {})
    properties = prop.get("properties")
    return bool(properties) and set(properties) <= allowed


def _everything(crumb: tuple[str, ...]) -> bool:
    return True


class Step(t.NamedTuple):
    """How one property is shaped (the shaper unpacks steps in its loop, which costs no more than a tuple's)."""

    name: str
    column: str  # the flat column (`parent_child`)
    how: int  # SCALAR, OBJECT, FREE, REF_MANY, CF_SINGLE or CF_MULTI
    passes: frozenset = frozenset()  # SCALAR: the types that pass unchanged; others go through `convert`
    convert: t.Any = None  # SCALAR: the converter (None: every value passes); FREE: whether an object is expected
    children: t.Any = None  # OBJECT: the children's steps; FREE: the reference tree under the value (or None)
    reference: Reference | None = None  # OBJECT, REF_MANY: the reference the property is declared as keys of


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
        keys: bool = False,
    ) -> None:
        """`selected(breadcrumb)`: whether a property is selected (all when None), e.g. `("customFields", "vin")`.
        `references`: by dotted path (`user`, `connector.user`); those the schema declares as keys become keys.
        `keys` (`nested_objects: keys`): free-form values lose their references' copies too (`without_copies`)."""
        self.flat = flat
        self.references = references or {}
        self.keys = keys
        self.tree = reference_tree(self.references) if keys else {}
        self.datetime_converter = datetime_converter
        is_selected = selected or _everything
        self.plan = self._plan(schema, is_selected, ())
        properties = schema.get("properties", {})
        self.known = frozenset(properties) | INTERNAL_KEYS
        custom = properties.get(CUSTOM_FIELDS) or {}
        self.known_custom = frozenset(custom.get("properties") or ()) if custom.get("properties") else None
        self.undeclared: set[str] = set()

    def _plan(self, schema: dict, selected: t.Callable[[tuple[str, ...]], bool], parent: tuple[str, ...]) -> list[Step]:
        plan = []
        for name, prop in schema.get("properties", {}).items():
            crumb = (*parent, name)
            if name in SECRET_KEYS or not selected(crumb):
                continue
            column = SEPARATOR.join(crumb)
            kinds = schema_types(prop)
            reference = self.references.get(".".join(crumb))
            if reference is not None and not _declares_keys(prop, reference):
                reference = None
            if parent == (CUSTOM_FIELDS,):
                how = CF_MULTI if "array" in kinds else CF_SINGLE
                plan.append(Step(name, column, how))
            elif "object" in kinds and prop.get("properties"):
                # custom fields can be selected one by one; other objects are selected whole
                children_selected = selected if name == CUSTOM_FIELDS and not parent else _everything
                children = self._plan(prop, children_selected, crumb)
                plan.append(Step(name, column, OBJECT, children=children, reference=reference))
            elif reference is not None:
                plan.append(Step(name, column, REF_MANY, reference=reference))
            elif is_scalar(prop):
                plan.append(Step(name, column, SCALAR, *_rule(prop, self.datetime_converter)))
            else:
                plan.append(Step(name, column, FREE, convert="object" in kinds, children=self._subtree(crumb)))
        return plan

    def _subtree(self, crumb: tuple[str, ...]) -> Tree | None:
        """The references under a free-form value (None: none known there)."""
        node: t.Any = self.tree
        for name in crumb:
            node = node.get(name) if type(node) is dict else None
        return node if type(node) is dict and node else None

    def _free(self, value: t.Any, tree: Tree | None) -> t.Any:
        return without_copies(value, tree) if self.keys else without_internals(value)

    def _json(self, value: t.Any, tree: Tree | None = None) -> str:
        return orjson.dumps(self._free(value, tree)).decode()

    def _object(self, name: str, value: t.Any, kind: type, children: list, reference: Reference | None) -> t.Any:
        """A declared object: projected to its declaration; a bare key of a reference to its keys; PHP's `[]`."""
        if kind is dict:
            return self._shape(value, children)
        if reference is not None and kind is not list:
            return key_of(reference, value)
        return {} if name == CUSTOM_FIELDS else None  # PHP's [] for an empty object

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
                if kind is dict or kind is list:
                    out[name] = self._free(value, None)
                elif value is None or convert is None or kind in passes:
                    out[name] = value
                else:
                    out[name] = convert(value)
            elif how == CF_MULTI:
                out[name] = multi_custom_field(value)
            elif value is None:
                out[name] = None
            elif how == OBJECT:
                out[name] = self._object(name, value, kind, children, reference)
            elif how == FREE:
                if convert and kind is list and not value:  # PHP's [] for an empty object
                    out[name] = {} if name == CUSTOM_FIELDS else None
                else:
                    out[name] = self._free(value, children)
            elif how == REF_MANY:
                out[name] = key_of(reference, value)
            else:
                out[name] = single_custom_field(value)
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
                    out[column] = self._json(value)
                elif convert is None or kind in passes:
                    out[column] = value
                else:
                    value = convert(value)
                    if value is not None:
                        out[column] = value
            elif how == OBJECT:
                if not top:  # deeper than `parent_child`: one JSON cell, shaped like the Singer record's value
                    shaped = self._object(name, value, kind, children, reference)
                    if shaped is not None:
                        out[column] = orjson.dumps(shaped).decode()
                elif kind is dict:
                    self._flatten_into(out, value, children, top=False)
                elif reference is not None and kind is not list:
                    self._flatten_into(out, key_of(reference, value) or {}, children, top=False)
            elif how == FREE:
                if convert and kind is list and not value:  # PHP's [] for an empty object
                    if name == CUSTOM_FIELDS:
                        out[column] = "{}"
                else:
                    out[column] = self._json(value, children)
            elif how == REF_MANY:
                out[column] = json_cell(key_of(reference, value))
            elif how == CF_SINGLE:
                value = single_custom_field(value)
                if value is not None:
                    out[column] = value
            else:
                value = multi_custom_field(value)
                if value:  # unset (`[]`): an empty cell
                    out[column] = json_cell(value)
