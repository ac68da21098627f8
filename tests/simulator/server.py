"""A local Daktela REST API v6 simulator: stdlib HTTP server + orjson, deterministic data, fault knobs."""

from __future__ import annotations

import bisect
import contextlib
import copy
import dataclasses
import json
import operator
import secrets
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

import orjson

from .data import (
    CF_MODELS,
    CF_SCHEME_MODELS,
    CHANNELS,
    ENDPOINTS,
    PRIMARY_KEYS,
    REPLICATION_KEYS,
    SCALES,
    Generator,
    fmt,
)
from .query import (
    OPERATORS,
    RANGE_OPS,
    Condition,
    Group,
    QueryError,
    as_list,
    compile_filter,
    get_path,
    normalize_dt,
    parse_fields,
    parse_filter,
    parse_php_query,
    parse_sort,
    project,
    sort_key,
)
from .query import (
    _like_regex as _like_rx,
)

API_VERSION = "2025.2.1"
DATE_FIELDS = frozenset({"time", "created", "edited", "call_time", "start"})
CHANNEL_ENDPOINTS = ("activitiesCall", "activitiesEmail", "activitiesChat", *CHANNELS)


@dataclass
class Knobs:
    """Fault and behaviour switches. Tests set fields on ``sim.knobs``; all default to off."""

    latency_ms: float = 0
    slow_requests: int = 0
    slow_seconds: float = 0.0
    fail_next: list[int] = field(default_factory=list)
    fail_endpoint: dict[str, list[int]] = field(default_factory=dict)
    rate_limit_next: int = 0
    retry_after: int | str = 1
    drop_next: int = 0
    token_ttl_requests: int | None = None
    reject_static_token: bool = False
    forbidden_endpoints: set[str] = field(default_factory=set)
    reject_date_filter: set[str] = field(default_factory=set)
    total_as_string: bool = False
    data_as_object: bool = False
    malformed_next: int = 0
    bad_envelope_next: int = 0
    mutate_between_pages: Callable[..., Any] | None = None
    mutations: list[tuple[str, str, Any]] = field(default_factory=list)
    max_take: int = 1000
    default_take: int = 100
    extra_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_endpoints: set[str] = field(default_factory=set)
    dotted_fields: str = "honour"


@dataclass
class Counters:
    requests: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_endpoint: Counter = field(default_factory=Counter)
    auth_transports: Counter = field(default_factory=Counter)
    logins: int = 0
    login_failures: int = 0
    peak_in_flight: int = 0
    in_flight: int = 0
    pages: int = 0
    bytes_sent: int = 0
    list_requests: Counter = field(default_factory=Counter)


def record_key(rec: dict[str, Any], pk: str) -> Any:
    """A record's key; a key that is a whole record (a session's `id_agent`, the user) is that record's name."""
    key = rec[pk]
    return key["name"] if isinstance(key, dict) else key


class Entry:
    __slots__ = ("frags", "key", "rec")

    def __init__(self, key: Any, rec: dict[str, Any], frags: tuple[bytes, ...]) -> None:
        self.key = key
        self.rec = rec
        self.frags = frags


class View:
    """One cached sort order of a table."""

    __slots__ = ("asc_keys", "columns", "desc", "field", "order")

    def __init__(self, order: list[Entry], spec: tuple[tuple[str, bool], ...]) -> None:
        self.order = order
        self.field = spec[0][0] if spec else None
        self.desc = spec[0][1] if spec else False
        self.asc_keys: list[tuple[Any, ...]] | None = None
        self.columns: dict[str, tuple[list[Any], str | None]] = {}

    def column(self, f: str) -> tuple[list[Any], str | None]:
        """Values of a (dotted) field in this order, and their kind: int, dt, str or None (mixed/other)."""
        hit = self.columns.get(f)
        if hit is None:
            if "." in f:
                path = tuple(f.split("."))
                col = [get_path(e.rec, path) for e in self.order]
            else:
                col = [e.rec.get(f) for e in self.order]
            hit = self.columns[f] = (col, _kind(col))
        return hit

    def keys(self) -> list[tuple[Any, ...]]:
        if self.asc_keys is None:
            path = tuple(self.field.split("."))  # type: ignore[union-attr]
            ks = [sort_key(get_path(e.rec, path)) for e in self.order]
            if self.desc:
                ks.reverse()
            self.asc_keys = ks
        return self.asc_keys


def _kind(col: list[Any]) -> str | None:
    """The one comparable kind of a column's non-null values ("int", "dt" or "str"), None when mixed or other."""
    kinds = set()
    for v in col:
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            return None
        if isinstance(v, int):
            kinds.add("int")
        elif len(v) == 19 and v[4] == "-" and v[10] == " ":
            kinds.add("dt")
        else:
            kinds.add("str")
        if len(kinds) > 1:
            return None
    return kinds.pop() if kinds else None


class Table:
    def __init__(self, name: str, records: list[dict[str, Any]], enc: Any) -> None:
        self.name = name
        self.pk = PRIMARY_KEYS[name]
        self.rk = REPLICATION_KEYS[name]
        self.enc = enc
        self.entries: dict[str, Entry] = {}
        self.fields: set[str] = set()
        self.views: dict[tuple[tuple[str, bool], ...], View] = {}
        self.types: dict[str, str | None] = {}
        for rec in records:
            self._put(rec)

    def _put(self, rec: dict[str, Any]) -> Entry:
        frags = self.enc.encode(rec)
        key = record_key(rec, self.pk)
        e = Entry(key, rec, frags)
        self.entries[str(key)] = e
        if len(self.fields) < len(rec):
            self.fields.update(rec)
        return e

    def invalidate(self) -> None:
        self.views = {}
        self.types = {}

    def valid_field(self, f: str) -> bool:
        return f.split(".", 1)[0] in self.fields

    def field_type(self, f: str) -> str | None:
        if f in self.types:
            return self.types[f]
        t = _kind([e.rec.get(f) for e in self.entries.values()])
        self.types[f] = t
        return t

    def view(self, spec: tuple[tuple[str, bool], ...]) -> View:
        v = self.views.get(spec)
        if v is None:
            order = list(self.entries.values())
            for f, desc in reversed(spec):
                path = tuple(f.split("."))
                order.sort(key=lambda e, p=path: sort_key(get_path(e.rec, p)), reverse=desc)
            v = self.views[spec] = View(order, spec)
        return v


def _evaluate(node: Condition | Group, view: View, idx: list[int] | range) -> list[int] | range:
    """Positions (ascending) among idx of view.order that match the filter tree, evaluated column-wise."""
    if isinstance(node, Condition):
        col, kind = view.column(node.field)
        return _filter_column(col, idx, node, kind)
    if not node.children:
        return idx
    if node.logic == "and":
        for child in node.children:
            idx = _evaluate(child, view, idx)
        return idx
    hit: set[int] = set()
    for child in node.children:
        hit.update(_evaluate(child, view, idx))
    return [i for i in idx if i in hit]


_CMP = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}


def _filter_column(col: list[Any], idx: list[int] | range, c: Condition, ftype: str | None) -> list[int]:
    """Positions in idx whose column value passes c; vectorised-ish for uniform scalar columns."""
    raw = c.raw
    if ftype in ("int", "dt", "str") and not c.ignore_case and c.op in _FAST_OPS:
        vals = [str(v) for v in as_list(raw)] if raw is not None else [""]
        if c.op not in ("in", "notin"):
            vals = vals[:1]
        if c.op in ("in", "notin") and len(vals) == 1 and "," in vals[0]:
            vals = vals[0].split(",")
        conv: list[Any] = []
        ok = True
        for v in vals:
            if ftype == "int":
                try:
                    conv.append(float(v))
                except ValueError:
                    ok = False
            elif ftype == "dt":
                conv.append(normalize_dt(v))
            elif normalize_dt(v) == v:
                conv.append(v)
            else:
                ok = False
        if ok and conv:
            if c.op in ("eq", "in"):
                acc = set(conv)
                return [i for i in idx if col[i] in acc]
            if c.op in ("neq", "notin"):
                acc = set(conv)
                return [i for i in idx if col[i] not in acc]
            if len(conv) == 1:
                fn = _CMP[c.op]
                x = conv[0]
                return [i for i in idx if (v := col[i]) is not None and fn(v, x)]
    if ftype in ("str", "dt") and c.op in _STR_OPS and not isinstance(raw, (dict, list)):
        needle = "" if raw is None else str(raw)
        neg = c.op in ("notlike", "notbegins", "notends", "doesnotcontain")
        base = {"notlike": "like", "notbegins": "begins", "notends": "ends", "doesnotcontain": "contains"}.get(
            c.op, c.op
        )
        if base == "like":
            rx = _like_rx(needle, c.ignore_case)
            hit = [i for i in idx if (v := col[i]) is not None and rx.fullmatch(v)]
        else:
            if c.ignore_case:
                needle = needle.lower()
                vals = [None if v is None else v.lower() for v in col]
            else:
                vals = col
            if base in ("begins", "startswith"):
                hit = [i for i in idx if (v := vals[i]) is not None and v.startswith(needle)]
            elif base in ("ends", "endswith"):
                hit = [i for i in idx if (v := vals[i]) is not None and v.endswith(needle)]
            else:
                hit = [i for i in idx if (v := vals[i]) is not None and needle in v]
        if not neg:
            return hit
        hs = set(hit)
        return [i for i in idx if i not in hs]
    test = c.test
    return [i for i in idx if test(col[i])]


_STR_OPS = OPERATORS - RANGE_OPS - {"neq", "in", "notin", "isnull", "isnotnull"}  # the text-matching ones


_FAST_OPS = frozenset({"eq", "neq", "in", "notin", "lt", "lte", "gt", "gte"})


def _range(view: View, ftype: str, conds: list[Condition]) -> tuple[int, int] | None:
    """Index range [lo, hi) in view.order matching all range conditions on the view's first sort field."""
    keys = view.keys()
    n = len(keys)
    lo, hi = 0, n
    rank = 1 if ftype == "int" else 2
    for c in conds:
        raw = c.raw
        if isinstance(raw, (dict, list)):
            return None
        if ftype == "int":
            try:
                cv: Any = float(raw)
            except (TypeError, ValueError):
                return None
        elif ftype == "dt":
            cv = normalize_dt(str(raw if raw is not None else ""))
        else:
            cv = str(raw if raw is not None else "")
        k = (rank, cv)
        start = bisect.bisect_left(keys, (rank,))
        end = bisect.bisect_left(keys, (rank + 1,))
        if c.op == "eq":
            a, b = bisect.bisect_left(keys, k), bisect.bisect_right(keys, k)
        elif c.op == "gt":
            a, b = bisect.bisect_right(keys, k), end
        elif c.op == "gte":
            a, b = bisect.bisect_left(keys, k), end
        elif c.op == "lt":
            a, b = start, bisect.bisect_left(keys, k)
        else:
            a, b = start, bisect.bisect_right(keys, k)
        lo, hi = max(lo, a), min(hi, b)
    hi = max(lo, hi)
    if view.desc:
        return n - hi, n - lo
    return lo, hi


class DaktelaSimulator:
    """Daktela REST API v6 simulator. ``with DaktelaSimulator() as sim: requests.get(sim.url + ...)``."""

    def __init__(
        self,
        seed: int = 1,
        sizes: dict[str, int] | None = None,
        scale: str = "small",
        username: str = "api_user",
        password: str = "s3cret-Pa55",
        static_token: str = "static-token-0123456789",
        timezone: str = "Europe/Prague",
        port: int = 0,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; one of {sorted(SCALES)}")
        self.seed = seed
        self.scale = scale
        self.sizes = dict(SCALES[scale]) | dict(sizes or {})
        self.username = username
        self.password = password
        self.static_token = static_token
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self.host = host
        self.port = port
        self.tls = tls
        self.knobs = Knobs()
        self.counters = Counters()
        self.endpoints: tuple[str, ...] = ENDPOINTS
        self._lock = threading.RLock()
        self._tokens: dict[str, int] = {}
        self._refresh: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self.url = ""
        t0 = time.perf_counter()
        self._gen = Generator(seed, self.sizes)
        raw = self._gen.build()
        self.tables: dict[str, Table] = {}
        enc = self._gen.enc
        for ep in ENDPOINTS:
            if ep != "activities":
                self.tables[ep] = Table(ep, raw.get(ep, []), enc)
        for ep in CHANNEL_ENDPOINTS:
            for e in self.tables[ep].entries.values():
                # an activity's `item` is the channel record without its nested `activities` (as in real samples)
                if e.rec.get("activities"):
                    enc.cache[id(e.rec)] = enc.encode({k: v for k, v in e.rec.items() if k != "activities"})
                else:
                    enc.cache[id(e.rec)] = e.frags
                enc.keep.append(e.rec)
        self.tables["activities"] = Table("activities", raw.get("activities", []), enc)
        self.tables = {ep: self.tables[ep] for ep in ENDPOINTS}
        self._schemes0 = dict(self._gen.schemes)
        self._added_cf: dict[str, list[str]] = {}
        self.generation_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        if self._server is not None:
            return self.url
        sim = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def process_request(self, request: Any, client_address: Any) -> None:
                with sim._lock:
                    sim._conns.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with sim._lock:
                    sim._conns.discard(request)
                super().shutdown_request(request)

            def get_request(self) -> tuple[Any, Any]:
                sock, addr = super().get_request()
                if sim.tls is not None:
                    # no I/O here: the handshake runs in the connection's own thread (see _Handler.setup)
                    sock = sim.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return sock, addr

            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], OSError):  # ssl.SSLError is one
                    super().handle_error(request, client_address)
                # a client that hangs up or fails the TLS handshake only loses its own connection

        handler = type("Handler", (_Handler,), {"sim": self})
        self._server = Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self.url = f"{'https' if self.tls is not None else 'http'}://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="daktela-sim", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            with self._lock:
                if not self._conns:
                    break
            time.sleep(0.01)
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self) -> DaktelaSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ data access
    def now_local(self) -> str:
        return datetime.now(self.tz).strftime("%Y-%m-%d %H:%M:%S")

    def _table(self, endpoint: str) -> Table:
        if endpoint not in self.tables:
            raise KeyError(f"unknown endpoint {endpoint!r}")
        return self.tables[endpoint]

    def records(self, endpoint: str) -> list[dict[str, Any]]:
        """Current records exactly as the API serialises them (fresh objects)."""
        t = self._table(endpoint)
        with self._lock:
            entries = list(t.entries.values())
        extra = self.extra_bytes(endpoint)
        return [orjson.loads(b"".join(self.served(e, extra))) for e in entries]

    def record(self, endpoint: str, name: Any) -> dict[str, Any]:
        e = self._table(endpoint).entries[str(name)]
        return orjson.loads(b"".join(self.served(e, self.extra_bytes(endpoint))))

    def extra_bytes(self, endpoint: str) -> tuple[dict[str, Any], bytes] | None:
        """The `extra_fields` knob for an endpoint: the fields and their JSON as `,"k":v` bytes, or None."""
        extra = self.knobs.extra_fields.get(endpoint)
        if not extra:
            return None
        extra = dict(extra)
        return extra, b"".join(b"," + orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in extra.items())

    @staticmethod
    def served(e: Entry, extra: tuple[dict[str, Any], bytes] | None) -> tuple[bytes, ...]:
        """A record's bytes as served: its cached fragments plus any `extra_fields` appended as top-level keys."""
        if extra is None:
            return e.frags
        fields, suffix = extra
        if any(k in e.rec for k in fields):  # a knob value replaces a field the record already has
            rec = orjson.loads(b"".join(e.frags))
            rec.update(fields)
            return (orjson.dumps(rec),)
        return (*e.frags[:-1], e.frags[-1][:-1] + suffix + b"}")

    # ------------------------------------------------------------------ custom fields
    def custom_fields(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """The custom-field scheme of a model (name -> {type, title, hidden, readonly, multiple, items...})."""
        self._table(endpoint)
        return copy.deepcopy(self._gen.schemes.get(endpoint, {}))

    def add_custom_field(
        self,
        endpoint: str,
        name: str,
        multiple: bool = False,
        type: str = "TEXT",
        title: str | None = None,
        items: list[str] | None = None,
    ) -> dict[str, Any]:
        """Add a custom field to a model: every record served from now on carries it (some with values)."""
        if endpoint not in CF_MODELS:
            raise ValueError(f"{endpoint!r} has no custom fields; one of {CF_MODELS}")
        g = self._gen
        if type == "SELECTBOX" and not items:
            items = ["Ano", "Ne", "Možná 🤔"]
        with self._lock:
            spec = g.cf_spec(type, title or name.replace("_", " ").capitalize(), multiple, items)
            g.schemes[endpoint] = {**g.schemes[endpoint], name: spec}
            self._added_cf.setdefault(endpoint, []).append(name)

            def change(cf: dict[str, Any]) -> None:
                cf[name] = g.cf_value(spec)

            self._rewrite_custom_fields(endpoint, change)
        return copy.deepcopy(spec)

    def _rewrite_custom_fields(self, endpoint: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Re-encode every record of a model after a scheme change (nested copies elsewhere keep their old bytes)."""
        t = self.tables[endpoint]
        scheme = self._gen.schemes[endpoint]
        for e in list(t.entries.values()):
            rec = dict(e.rec)
            cf = rec.get("customFields")
            cf = dict(cf) if isinstance(cf, dict) else {}
            change(cf)
            rec["customFields"] = cf or []
            if endpoint in CF_SCHEME_MODELS and isinstance(rec.get("_sys"), dict):
                rec["_sys"] = {**rec["_sys"], "cfScheme": scheme}
            t._put(rec)
        t.invalidate()

    def reset_knobs(self) -> None:
        """Every knob back to its default; custom fields added by add_custom_field are removed again."""
        with self._lock:
            default = Knobs()
            for f in dataclasses.fields(Knobs):
                setattr(self.knobs, f.name, getattr(default, f.name))
            for endpoint, names in list(self._added_cf.items()):
                del self._added_cf[endpoint]
                self._gen.schemes[endpoint] = self._schemes0[endpoint]
                gone = set(names)

                def change(cf: dict[str, Any], gone: set[str] = gone) -> None:
                    for k in gone:
                        cf.pop(k, None)

                self._rewrite_custom_fields(endpoint, change)

    def total(self, endpoint: str, **window: Any) -> int:
        """Count records; window keys: start/gte, gt, end/lt, lte on the replication key (or ``field=``)."""
        t = self._table(endpoint)
        fname = window.pop("field", None) or t.rk
        bounds = {"gte": window.pop("start", None), "lt": window.pop("end", None)}
        bounds.update({k: window.pop(k) for k in list(window) if k in ("gte", "gt", "lt", "lte")})
        if window:
            raise TypeError(f"unknown window keys {sorted(window)}")
        conds = [Condition(fname, op, v, False) for op, v in bounds.items() if v is not None]
        with self._lock:
            entries = list(t.entries.values())
        return sum(1 for e in entries if all(c.test(e.rec.get(fname)) for c in conds))

    def insert(self, endpoint: str, n: int = 1) -> list[dict[str, Any]]:
        t = self._table(endpoint)
        out = []
        with self._lock:
            for _ in range(n):
                now = self.now_local()
                rec = self._new_record(endpoint, now)
                t._put(rec)
                out.append(orjson.loads(b"".join(t.entries[str(record_key(rec, t.pk))].frags)))
            t.invalidate()
        return out

    def _new_record(self, ep: str, now: str) -> dict[str, Any]:
        g = self._gen
        if ep == "tickets":
            name = max((e.key for e in self.tables["tickets"].entries.values()), default=g.next_ticket - 1) + 1
            return g.make_ticket(name, now, now)
        if ep == "contacts":
            return g.make_contact(now, now)
        if ep == "accounts":
            return g.make_account(now, now)
        if ep == "crmRecords":
            return g.make_crm_record(now, now)
        if ep == "campaignsRecords":
            return g.make_campaign_record(now, now)
        if ep == "activities":
            return g.make_activity(now, "")
        if ep == "activitiesCall":
            return g.make_call(now, None)
        if ep == "activitiesEmail":
            return g.make_email(now, None)
        if ep == "activitiesChat":
            return g.make_chat(now, None)
        if ep in CHANNELS:
            return g.make_message(ep, now, None)
        if ep == "ticketsCategories":
            return g.make_category(len(self.tables[ep].entries))
        if ep == "articles":
            return g.make_article(now, now)
        if ep == "activitiesCallTranscripts":
            return g.new_transcript(now)
        if ep == "realtimeSessions":  # an agent who logs in
            taken = {str(e.key) for e in self.tables[ep].entries.values()}
            free = [u for u in g.active_users() if u["name"] not in taken]
            if not free:
                raise ValueError("every active user already has a session")
            return dict(g.make_session(free[0]), logintime=now, statetime=now)
        makers = {
            "ticketsSla": g.make_sla,
            "roles": g.make_role,
            "profiles": g.make_profile,
            "crmRecordsTypes": g.make_crm_type,
            "databases": g.make_campaign_database,
            "timegroups": g.make_timegroup,
            "articlesFolders": g.make_article_folder,
            "articlesTags": g.make_article_tag,
        }
        if ep in makers:
            return makers[ep](len(self.tables[ep].entries))
        if ep == "crmDatabases":
            return dict(next(iter(self.tables[ep].entries.values())).rec, name=g.nid("crmdb"), default=False)
        if ep == "campaignsTypes":
            rec = g.make_campaign_type(len(self.tables[ep].entries))
            rec["name"] = f"campaignsTypes_{g._next()}"
            return rec
        if ep == "users":
            rec = g.make_user(len(self.tables["users"].entries) + 1000)
            rec["name"] = f"{rec['name']}_{g._next()}"
            return rec
        if ep == "queues":
            rec = g.make_queue(len(self.tables["queues"].entries))
            rec["name"] = max(e.key for e in self.tables["queues"].entries.values()) + 1
            return rec
        maker = {"statuses": g.make_status, "groups": g.make_group, "pauses": g.make_pause}.get(ep)
        if maker is not None:
            rec = maker(len(self.tables[ep].entries) + 1)
            if ep == "groups":
                rec["name"] = f"groups_{g._next():x}"[:32]
            return rec
        return g.make_template(len(self.tables[ep].entries))

    def update(self, endpoint: str, name: Any) -> dict[str, Any]:
        t = self._table(endpoint)
        with self._lock:
            old = t.entries[str(name)]
            rec = dict(old.rec)
            for key in ("title", "description", "text"):
                if key in rec and isinstance(rec[key], str | None):
                    rec[key] = f"{rec[key] or ''} (upraveno {self._gen._next()})"
                    break
            if "edited" in rec:
                rec["edited"] = max(self.now_local(), str(rec.get("created") or ""))
                if "edited_by" in rec:
                    rec["edited_by"] = self._gen.pick(self._gen.users)
            if "_sys" in rec and isinstance(rec["_sys"], dict):
                rec["_sys"] = dict(rec["_sys"], hash=str(self._gen._next()))
            t._put(rec)
            t.invalidate()
            return orjson.loads(b"".join(t.entries[str(name)].frags))

    def delete(self, endpoint: str, name: Any) -> None:
        t = self._table(endpoint)
        with self._lock:
            del t.entries[str(name)]
            t.invalidate()

    def reset_counters(self) -> None:
        with self._lock:
            self.counters = Counters()

    # ------------------------------------------------------------------ query engine
    def run_query(self, endpoint: str, params: dict[str, Any]) -> tuple[int, list[Entry], list[str] | None]:
        """Return (total, page entries, projection fields)."""
        t = self._table(endpoint)
        ftree = parse_filter(params.get("filter"), t.valid_field)
        spec = parse_sort(params.get("sort"), t.valid_field)
        fields = parse_fields(params.get("fields"))
        skip = _int(params.get("skip"), 0)
        take = _int(params.get("take"), self.knobs.default_take)
        if skip < 0 or take < 0:
            raise QueryError("Invalid paging")
        take = min(take, self.knobs.max_take)
        q = params.get("q")
        with self._lock:
            view = t.view(spec)
            ftype = t.field_type(view.field) if view.field and "." not in view.field else None
        order = view.order
        lo, hi = 0, len(order)
        residual: Condition | Group | None = ftree
        if ftype in ("int", "dt", "str") and ftree is not None:
            children = [ftree] if isinstance(ftree, Condition) else (ftree.children if ftree.logic == "and" else [])
            fast = [
                c
                for c in children
                if isinstance(c, Condition) and c.field == view.field and c.op in RANGE_OPS and not c.ignore_case
            ]
            if fast:
                rng = _range(view, ftype, fast)
                if rng is not None:
                    lo, hi = rng
                    rest = [c for c in children if not any(c is f for f in fast)]
                    residual = Group("and", rest) if rest else None
        if not q and residual is not None:
            matches = [order[i] for i in _evaluate(residual, view, range(lo, hi))]
            return len(matches), matches[skip : skip + take], fields
        pred = compile_filter(residual)
        if q:
            needle = str(q).lower()
            qpred: Callable[[dict[str, Any]], bool] = lambda r: any(  # noqa: E731
                needle in str(r.get(k) or "").lower() for k in ("name", "title", "description", "id_call", "email")
            )
            pred = qpred if pred is None else (lambda r, p=pred: p(r) and qpred(r))
        if pred is None:
            total = hi - lo
            page = order[lo + skip : min(hi, lo + skip + take)]
        else:
            matches = [e for e in order[lo:hi] if pred(e.rec)]
            total = len(matches)
            page = matches[skip : skip + take]
        return total, page, fields

    def filter_fields(self, params: dict[str, Any], endpoint: str) -> set[str]:
        t = self._table(endpoint)
        try:
            f = parse_filter(params.get("filter"), t.valid_field)
        except QueryError:
            return set()
        if f is None:
            return set()
        conds = [f] if isinstance(f, Condition) else f.conditions()
        return {c.field for c in conds}

    def apply_mutation(self, endpoint: str, params: dict[str, Any]) -> None:
        k = self.knobs
        with self._lock:
            idx = self.counters.list_requests[endpoint]
            self.counters.list_requests[endpoint] += 1
        if k.mutate_between_pages is not None:
            k.mutate_between_pages(self, endpoint, idx)
        if idx == 0 or not k.mutations:
            return
        with self._lock:
            pos = next((i for i, m in enumerate(k.mutations) if m[1] == endpoint), None)
            if pos is None:
                return
            action, ep, name = k.mutations.pop(pos)
        if action == "insert":
            self.insert(ep)
            return
        if name is None:
            probe = dict(params, skip="0", take="1")
            probe.pop("fields", None)
            try:
                _total, page, _ = self.run_query(ep, probe)
            except QueryError:
                page = []
            if not page:
                return
            name = page[0].key
        if action == "update":
            self.update(ep, name)
        elif action == "delete":
            self.delete(ep, name)
        else:
            raise ValueError(f"unknown mutation {action!r}")

    # ------------------------------------------------------------------ auth
    def issue_token(self) -> dict[str, Any]:
        token = secrets.token_hex(20)
        refresh = secrets.token_hex(20)
        with self._lock:
            self._tokens[token] = 0
            self._refresh[refresh] = token
            self.counters.logins += 1
        exp = datetime.now(self.tz) + timedelta(hours=2)
        return {"accessToken": token, "refreshToken": refresh, "accessTokenExpirationDate": fmt(exp)[:19]}

    def check_token(self, token: str | None) -> bool:
        if not token:
            return False
        if token == self.static_token:
            return not self.knobs.reject_static_token
        with self._lock:
            uses = self._tokens.get(token)
            if uses is None:
                return False
            ttl = self.knobs.token_ttl_requests
            if ttl is not None and uses >= ttl:
                del self._tokens[token]
                return False
            self._tokens[token] = uses + 1
            return True

    def whoim_user(self, token: str) -> dict[str, Any]:
        users = self.tables["users"].entries
        e = users.get(self.username) or next(iter(users.values()))
        u = copy.deepcopy(orjson.loads(b"".join(e.frags)))
        u["_sys"]["accessToken"] = token
        return u


def _int(v: Any, default: int) -> int:
    if v is None or v == "":
        return default
    try:
        return int(str(v).strip())
    except ValueError as exc:
        raise QueryError(f"Invalid number {v!r}") from exc


class _DropConnection(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    sim: DaktelaSimulator
    protocol_version = "HTTP/1.1"
    server_version = "DaktelaSimulator/1.0"
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # errors end this connection only (Server.handle_error)

    # every method goes through one dispatcher
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # ------------------------------------------------------------------ plumbing
    def _stamp(self) -> bytes:
        ts = self.sim.now_local()
        return (
            b'"_serverTime":"' + ts.encode() + b'","_time":"' + ts.encode() + b'","_timezone":'
            + orjson.dumps(self.sim.timezone)
        )  # fmt: skip

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        sim = self.sim
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        with sim._lock:
            sim.counters.by_status[status] += 1
            sim.counters.bytes_sent += len(body)

    def _error(self, status: int, error: Any, headers: dict[str, str] | None = None) -> None:
        body = b'{"error":' + orjson.dumps(error) + b',"result":null,' + self._stamp() + b"}"
        self._send(status, body, headers)

    def _ok(self, result_bytes: bytes, status: int = 200) -> None:
        self._send(status, b'{"error":[],"result":' + result_bytes + b"," + self._stamp() + b"}")

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self, method: str) -> None:
        sim = self.sim
        with sim._lock:
            sim.counters.requests += 1
            sim.counters.in_flight += 1
            sim.counters.peak_in_flight = max(sim.counters.peak_in_flight, sim.counters.in_flight)
        try:
            self._handle(method)
        except _DropConnection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with sim._lock:
                sim.counters.in_flight -= 1

    def _route(self) -> tuple[list[str], dict[str, Any]]:
        parts = urlsplit(self.path)
        path = parts.path
        for prefix in ("/external/api/v6/", "/api/v6/"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        else:
            path = path.lstrip("/")
        segs = [unquote(s) for s in path.split("/") if s]
        if segs and segs[-1].endswith(".json"):
            segs[-1] = segs[-1][:-5]
        return segs, parse_php_query(parts.query)

    def _token(self, params: dict[str, Any]) -> tuple[str | None, str | None]:
        tok = self.headers.get("X-AUTH-TOKEN")
        if tok:
            return tok, "header"
        q = params.get("accessToken")
        if isinstance(q, str) and q:
            return q, "query"
        cookie = self.headers.get("Cookie")
        if cookie:
            c = SimpleCookie()
            with contextlib.suppress(Exception):
                c.load(cookie)
            if "c_user" in c and c["c_user"].value:
                return c["c_user"].value, "cookie"
        return None, None

    def _handle(self, method: str) -> None:
        sim = self.sim
        k = sim.knobs
        segs, params = self._route()
        body = self._read_body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
        ep = segs[0] if segs else ""
        with sim._lock:
            sim.counters.by_endpoint[ep] += 1
        if k.latency_ms:
            time.sleep(k.latency_ms / 1000)
        with sim._lock:
            slow = k.slow_requests > 0
            if slow:
                k.slow_requests -= 1
            drop = k.drop_next > 0
            if drop:
                k.drop_next -= 1
            fail = k.fail_next.pop(0) if not drop and k.fail_next else None
            limited = not drop and fail is None and k.rate_limit_next > 0
            if limited:
                k.rate_limit_next -= 1
            ep_fail = None
            if not drop and fail is None and not limited and k.fail_endpoint.get(ep):
                ep_fail = k.fail_endpoint[ep].pop(0)
        if slow:
            time.sleep(k.slow_seconds)
        if drop:
            raise _DropConnection
        if fail is not None or ep_fail is not None:
            status = fail if fail is not None else ep_fail
            self._error(status, [f"Simulated error {status}"])  # type: ignore[arg-type]
            return
        if limited:
            self._error(429, ["Too Many Requests"], {"Retry-After": str(k.retry_after)})
            return

        if ep == "login":
            self._login(method, params, body)
            return
        if ep == "whoim":
            token, transport = self._token(params)
            if token and sim.check_token(token):
                with sim._lock:
                    sim.counters.auth_transports[transport] += 1
                res = {"version": API_VERSION, "user": sim.whoim_user(token)}
            else:
                res = {"version": API_VERSION, "user": None}
            self._ok(orjson.dumps(res))
            return

        token, transport = self._token(params)
        if not sim.check_token(token):
            self._error(401, ["Unauthorized"])
            return
        with sim._lock:
            sim.counters.auth_transports[transport] += 1
        if ep not in sim.tables:
            self._error(404, [f"Endpoint '{ep}' not exist"] if ep else ["Not found"])
            return
        if ep in k.missing_endpoints:  # an instance without this channel
            self._error(404, ["Object not exist"])
            return
        if method != "GET":
            self._error(405, ["Method not allowed"], {"Allow": "GET"})
            return
        if ep in k.forbidden_endpoints:
            self._error(403, ["Forbidden: you do not have rights for this endpoint"])
            return
        if len(segs) == 1:
            self._list(ep, params)
        elif len(segs) == 2:
            e = sim.tables[ep].entries.get(segs[1])
            if e is None:
                self._error(404, ["Object not exist"])
            else:
                self._ok(b"".join(sim.served(e, sim.extra_bytes(ep))))
        else:
            self._error(404, ["Object not exist"])

    def _login(self, method: str, params: dict[str, Any], body: bytes) -> None:
        sim = self.sim
        if method not in ("POST", "PUT"):
            self._error(405, ["Method not allowed"], {"Allow": "POST, PUT"})
            return
        data: dict[str, Any] = {k: v for k, v in params.items() if isinstance(v, str)}
        if body:
            ctype = (self.headers.get("Content-Type") or "").lower()
            parsed: Any = None
            if "json" in ctype or body.lstrip()[:1] == b"{":
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
            if not isinstance(parsed, dict):
                parsed = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            data.update({k: v for k, v in parsed.items() if v is not None})
        if method == "PUT":
            refresh = data.get("refreshToken")
            cookie = self.headers.get("Cookie") or ""
            if not refresh and "c_refresh_token=" in cookie:
                refresh = cookie.split("c_refresh_token=", 1)[1].split(";", 1)[0]
            with sim._lock:
                ok = bool(refresh) and sim._refresh.pop(str(refresh), None) is not None
            if not ok:
                with sim._lock:
                    sim.counters.login_failures += 1
                self._error(401, ["Invalid refresh token"])
                return
        elif str(data.get("username")) != sim.username or str(data.get("password")) != sim.password:
            with sim._lock:
                sim.counters.login_failures += 1
            self._error(401, ["Wrong username or password"])
            return
        res = sim.issue_token()
        if str(data.get("only_token", "")).lower() in ("1", "true"):
            self._ok(orjson.dumps(res["accessToken"]), 201 if method == "POST" else 200)
        else:
            self._ok(orjson.dumps(res), 201 if method == "POST" else 200)

    def _list(self, ep: str, params: dict[str, Any]) -> None:
        sim = self.sim
        k = sim.knobs
        try:
            if ep in k.reject_date_filter:
                t = sim.tables[ep]
                date_fields = (DATE_FIELDS & t.fields) | ({t.rk} if t.rk else set())
                if sim.filter_fields(params, ep) & date_fields:
                    self._error(400, {"form": {"filter": "Filtering by date is not allowed on this endpoint"}})
                    return
            sim.apply_mutation(ep, params)
            total, page, fields = sim.run_query(ep, params)
        except QueryError as exc:
            self._error(400, exc.body_error)
            return
        with sim._lock:
            malformed = k.malformed_next > 0
            if malformed:
                k.malformed_next -= 1
            bad = not malformed and k.bad_envelope_next > 0
            if bad:
                k.bad_envelope_next -= 1
        if malformed:
            self._send(200, b'{"error":[],"result":{"data":[{"name":"broken", "title": "unterminated')
            return
        if bad:
            self._send(200, b'{"error":[],' + self._stamp() + b"}")
            return
        extra = sim.extra_bytes(ep)
        if fields is not None:
            mode = k.dotted_fields
            enc = sim._gen.enc  # shared nested objects (an activity's item) keep their served bytes
            if extra is None:
                frag_lists: list[tuple[bytes, ...]] = [enc.encode(project(e.rec, fields, mode)) for e in page]
            else:
                frag_lists = [enc.encode(project({**e.rec, **extra[0]}, fields, mode)) for e in page]
        else:
            frag_lists = [sim.served(e, extra) for e in page]
        parts: list[bytes] = []
        if k.data_as_object:
            parts.append(b'{"error":[],"result":{"data":{')
            for i, (e, frags) in enumerate(zip(page, frag_lists, strict=True)):
                if i:
                    parts.append(b",")
                parts.append(orjson.dumps(str(e.key)) + b":")
                parts.extend(frags)
            parts.append(b"}")
        else:
            parts.append(b'{"error":[],"result":{"data":[')
            for i, frags in enumerate(frag_lists):
                if i:
                    parts.append(b",")
                parts.extend(frags)
            parts.append(b"]")
        total_b = orjson.dumps(str(total)) if k.total_as_string else str(total).encode()
        parts.append(b',"total":' + total_b + b"}," + self._stamp() + b"}")
        with sim._lock:
            sim.counters.pages += 1
        self._send(200, b"".join(parts))
