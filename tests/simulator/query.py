"""PHP-style query-string parsing, Daktela filters, sorting and field projection."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

OPERATORS = frozenset(
    [
        "eq",
        "neq",
        "lt",
        "lte",
        "gt",
        "gte",
        "like",
        "notlike",
        "in",
        "notin",
        "isnull",
        "isnotnull",
        "begins",
        "notbegins",
        "ends",
        "notends",
        "contains",
        "doesnotcontain",
        "startswith",
        "endswith",
    ]
)
RANGE_OPS = frozenset({"eq", "lt", "lte", "gt", "gte"})
NEGATIVE_OPS = frozenset({"neq", "notlike", "notin", "notbegins", "notends", "doesnotcontain"})
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")


class QueryError(Exception):
    """A request error answered with HTTP 400 and an error body."""

    def __init__(self, message: str, body_error: Any = None) -> None:
        super().__init__(message)
        self.body_error = body_error if body_error is not None else [message]


# --------------------------------------------------------------------------- PHP bracket parsing
def _split_key(key: str) -> list[str] | None:
    i = key.find("[")
    if i <= 0:
        return [key]
    out = [key[:i]]
    rest = key[i:]
    while rest.startswith("["):
        j = rest.find("]")
        if j < 0:
            break
        out.append(rest[1:j])
        rest = rest[j + 1 :]
    return out


def parse_php_query(qs: str) -> dict[str, Any]:
    """Parse ``a[b][0][c]=v&a[]=v`` into nested dicts (lists for ``[]`` appends), like PHP's parse_str."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(qs, keep_blank_values=True):
        parts = _split_key(key)
        if not parts or not parts[0]:
            continue
        node: Any = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if part == "":
                    if last:
                        node.append(value)
                        break
                    node.append({})
                    node = node[-1]
                    continue
                node = {str(i): v for i, v in enumerate(node)}  # pragma: no cover - mixed forms are rare
            if part == "":
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    return root


def as_list(value: Any) -> list[Any]:
    """A PHP array with numeric keys as a list ordered by key; a scalar or assoc array as a one-item list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
        return [value]
    return [value]


def truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------- values
def get_path(rec: Any, path: tuple[str, ...]) -> Any:
    cur = rec
    for p in path:
        if isinstance(cur, dict):
            cur = cur.get(p)
        else:
            return None
    return cur


def sort_key(v: Any) -> tuple[Any, ...]:
    """Total order over JSON values: null first, then numbers/bools, then strings, then the rest."""
    if v is None:
        return (0,)
    if isinstance(v, (bool, int, float)):
        return (1, v)
    if isinstance(v, str):
        return (2, v)
    if isinstance(v, dict) and "name" in v:  # a nested record sorts by its key, like Daktela's foreign key column
        return sort_key(v["name"])
    if isinstance(v, list) and not v:
        return (0,)
    return (3, repr(v))


def normalize_dt(value: str) -> str:
    if _DATE_RE.match(value):
        return value + " 00:00:00"
    if _DATETIME_RE.match(value):
        v = value.replace("T", " ", 1)[:19]
        return v + ":00" if len(v) == 16 else v
    return value


def _like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.S | (re.I if ignore_case else 0))


class Condition:
    __slots__ = ("field", "ignore_case", "op", "path", "raw", "test")

    def __init__(self, field: str, op: str, raw: Any, ignore_case: bool) -> None:
        self.field = field
        self.path = tuple(field.split("."))
        self.op = op
        self.raw = raw
        self.ignore_case = ignore_case
        self.test = self._compile()

    # comparable forms of the filter value
    def _values(self) -> list[str]:
        if self.op in ("in", "notin"):
            vals = as_list(self.raw)
            if len(vals) == 1 and isinstance(vals[0], str) and "," in vals[0]:
                vals = vals[0].split(",")
            return [str(v) for v in vals]
        if isinstance(self.raw, (dict, list)):
            vals = as_list(self.raw)
            return [str(vals[0])] if vals else [""]
        return [str(self.raw) if self.raw is not None else ""]

    def _compile(self) -> Callable[[Any], bool]:
        op = self.op
        ic = self.ignore_case
        if op == "isnull":
            return lambda v: v is None or v == [] or v == ""
        if op == "isnotnull":
            return lambda v: not (v is None or v == [] or v == "")
        vals = self._values()
        positive = {
            "neq": "eq",
            "in": "eq",
            "notin": "eq",
            "notlike": "like",
            "notbegins": "begins",
            "notends": "ends",
            "doesnotcontain": "contains",
        }.get(op, op)
        scalar_test = self._scalar(positive, vals, ic)

        def one(v: Any) -> bool:
            if isinstance(v, list):
                return any(scalar_test(x) for x in v)
            return scalar_test(v)

        if op in NEGATIVE_OPS:
            return lambda v: not one(v)
        return one

    @staticmethod
    def _scalar(op: str, vals: list[str], ic: bool) -> Callable[[Any], bool]:
        fold = (lambda s: s.lower()) if ic else (lambda s: s)
        svals = [fold(v) for v in vals]
        dvals = [fold(normalize_dt(v)) for v in vals]
        nums: list[float | None] = []
        for v in vals:
            try:
                nums.append(float(v))
            except ValueError:
                nums.append(None)
        bools = [v.strip().lower() in ("1", "true") for v in vals]

        def operands(x: Any) -> list[tuple[Any, Any]]:
            if isinstance(x, dict) and "name" in x:  # a nested record compares by its key (its foreign key column)
                x = x["name"]
            if x is None:
                return []
            if isinstance(x, bool):
                return [(x, b) for b in bools]
            if isinstance(x, (int, float)):
                return [(x, n) if n is not None else (fold(str(x)), s) for n, s in zip(nums, svals, strict=True)]
            if isinstance(x, str):
                xs = fold(x)
                if _DATETIME_RE.match(x):
                    return [(xs, d) for d in dvals]
                return [(xs, s) for s in svals]
            return [(fold(str(x)), s) for s in svals]

        if op in ("eq", "lt", "lte", "gt", "gte"):
            cmp = {
                "eq": lambda a, b: a == b,
                "lt": lambda a, b: a < b,
                "lte": lambda a, b: a <= b,
                "gt": lambda a, b: a > b,
                "gte": lambda a, b: a >= b,
            }[op]
            if op == "eq":
                return lambda x: any(a == b for a, b in operands(x))

            def ordered(x: Any) -> bool:
                for a, b in operands(x):
                    try:
                        if cmp(a, b):
                            return True
                    except TypeError:
                        return False
                return False

            return ordered
        if op == "like":
            regexes = [_like_regex(v, ic) for v in vals]
            return lambda x: x is not None and any(r.fullmatch(_text(x)) for r in regexes)
        str_op: Callable[[str, str], bool] = {
            "begins": str.startswith,
            "startswith": str.startswith,
            "ends": str.endswith,
            "endswith": str.endswith,
            "contains": lambda a, b: b in a,
        }[op]
        return lambda x: x is not None and any(str_op(fold(_text(x)), s) for s in svals)


def _text(x: Any) -> str:
    if isinstance(x, bool):
        return "1" if x else "0"
    return x if isinstance(x, str) else str(x)


class Group:
    __slots__ = ("children", "logic")

    def __init__(self, logic: str, children: list[Condition | Group]) -> None:
        self.logic = logic
        self.children = children

    def conditions(self) -> list[Condition]:
        out: list[Condition] = []
        for c in self.children:
            out.extend(c.conditions() if isinstance(c, Group) else [c])
        return out


def parse_filter(node: Any, valid_field: Callable[[str], bool]) -> Condition | Group | None:
    if node is None or node == "" or node == []:
        return None
    if isinstance(node, str):
        raise QueryError(f"Invalid filter: {node!r}")
    if isinstance(node, list):
        node = {str(i): v for i, v in enumerate(node)}
    if "field" in node:
        field = str(node["field"])
        op = str(node.get("operator") or "eq").strip().lower()
        if op not in OPERATORS:
            raise QueryError(f"Unknown filter operator '{op}'")
        if not field or not valid_field(field):
            raise QueryError(f"Unknown filter field '{field}'")
        return Condition(field, op, node.get("value"), truthy(node.get("ignoreCase", "")))
    if "filters" in node:
        logic = str(node.get("logic") or "and").lower()
        if logic not in ("and", "or"):
            raise QueryError(f"Unknown filter logic '{logic}'")
        children = [c for c in (parse_filter(x, valid_field) for x in as_list(node["filters"])) if c is not None]
        return Group(logic, children)
    if node and all(k.isdigit() for k in node):
        children = [c for c in (parse_filter(x, valid_field) for x in as_list(node)) if c is not None]
        return Group("and", children)
    if set(node) <= {"logic"}:
        return None
    raise QueryError("Invalid filter")


def compile_filter(f: Condition | Group | None) -> Callable[[dict[str, Any]], bool] | None:
    if f is None:
        return None
    if isinstance(f, Condition):
        test = f.test
        if len(f.path) == 1:
            key = f.field
            return lambda r: test(r.get(key))
        path = f.path
        return lambda r: test(get_path(r, path))
    preds = [p for p in (compile_filter(c) for c in f.children) if p is not None]
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    if f.logic == "or":
        return lambda r: any(p(r) for p in preds)
    return lambda r: all(p(r) for p in preds)


def parse_sort(node: Any, valid_field: Callable[[str], bool]) -> tuple[tuple[str, bool], ...]:
    """Return ((field, descending), ...)."""
    if node is None or node == "":
        return ()
    items: list[Any]
    if isinstance(node, str):
        items = [{"field": f.strip().lstrip("-"), "dir": "desc" if f.strip().startswith("-") else "asc"}
                 for f in node.split(",") if f.strip()]  # fmt: skip
    elif isinstance(node, dict) and "field" in node:
        items = [node]
    else:
        items = as_list(node)
    out = []
    for it in items:
        if isinstance(it, str):
            it = {"field": it}
        if not isinstance(it, dict) or not it.get("field"):
            raise QueryError("Invalid sort")
        field = str(it["field"])
        if not valid_field(field):
            raise QueryError(f"Unknown sort field '{field}'")
        d = str(it.get("dir") or "asc").lower()
        if d not in ("asc", "desc"):
            raise QueryError(f"Invalid sort direction '{d}'")
        out.append((field, d == "desc"))
    return tuple(out)


def parse_fields(node: Any) -> list[str] | None:
    if node is None:
        return None
    if isinstance(node, str):
        fields = [f.strip() for f in node.split(",")]
    else:
        fields = []
        for v in as_list(node):
            fields.extend(f.strip() for f in str(v).split(","))
    fields = [f for f in fields if f]
    return fields or None


def project(rec: dict[str, Any], fields: list[str], dotted: str = "honour") -> dict[str, Any]:
    """The `fields` projection of a record.

    A dotted entry (`user.name`) is honoured (`{"user": {"name": ...}}`, `null` for a null parent, a list of picked
    objects for arrays like `statuses.name`), ignored (dropped), or widened to its whole parent (`whole`).
    """
    if dotted not in ("honour", "ignore", "whole"):
        raise ValueError(f"dotted_fields must be honour, ignore or whole, not {dotted!r}")
    tree: dict[str, Any] = {}
    for f in fields:
        path = f.split(".")
        if len(path) > 1:
            if dotted == "ignore":
                continue
            if dotted == "whole":
                path = path[:1]
        node = tree
        for i, p in enumerate(path):
            if i == len(path) - 1:
                node[p] = None  # the whole value; wins over any sub-selection
                break
            nxt = node.get(p, _MISSING)
            if nxt is None:
                break  # the whole parent is already requested
            if nxt is _MISSING:
                nxt = node[p] = {}
            node = nxt
    return {k: rec[k] if sub is None else _pick(rec[k], sub) for k, sub in tree.items() if k in rec}


_MISSING: Any = object()


def _pick(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: value.get(k) if sub is None else _pick(value.get(k), sub) for k, sub in tree.items()}
    if isinstance(value, list):
        return [_pick(v, tree) for v in value]
    return None
