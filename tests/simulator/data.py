"""Deterministic generation of realistic Daktela v6 records.

Nested foreign-key objects (users with role and profile, queues, categories with SLA, contacts, tickets...) are
built once into small pools and shared by reference between records; their JSON bytes are cached so that a
record's bytes are a tuple of fragments: its own scalar fields plus the shared bytes of its nested objects.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import orjson

from .models import MODEL_ENDPOINTS, MODEL_PRIMARY_KEYS, MODEL_REPLICATION_KEYS, MODEL_SCALES, ModelsMixin

ENDPOINTS: tuple[str, ...] = (
    "tickets",
    "contacts",
    "activities",
    "activitiesChat",
    "activitiesEmail",
    "activitiesCall",
    "accounts",
    "crmRecords",
    "campaignsRecords",
    "groups",
    "pauses",
    "queues",
    "statuses",
    "templates",
    "users",
    "activitiesSms",
    "activitiesFbm",
    "activitiesIgdm",
    "activitiesWap",
    "activitiesVbr",
    "activitiesWeb",
    "ticketsCategories",
    "campaignsTypes",
    *MODEL_ENDPOINTS,
)

# The message channels: endpoint -> (activity type, name prefix, queue type, connector model). WEB is the current
# web chat (activitiesWeb); the legacy activitiesChat keeps type CHAT.
CHANNELS: dict[str, tuple[str, str, str, str]] = {
    "activitiesSms": ("SMS", "sms", "sms", "routingSmsInbound"),
    "activitiesFbm": ("FBM", "fbm", "fbm", "routingFbInbound"),
    "activitiesIgdm": ("IGDM", "igdm", "igdm", "routingIgInbound"),
    "activitiesWap": ("WAP", "wap", "wap", "routingWapInbound"),
    "activitiesVbr": ("VBR", "vbr", "vbr", "routingVbrInbound"),
    "activitiesWeb": ("WEB", "web", "chat", "routingWebInbound"),
}
_QTYPE = {spec[0]: spec[2] for spec in CHANNELS.values()}
# Models with custom fields, and those whose records also carry the scheme as `_sys.cfScheme`.
CF_MODELS: tuple[str, ...] = ("contacts", "accounts", "tickets", "crmRecords", "campaignsRecords", "activities")
CF_SCHEME_MODELS = frozenset({"contacts", "accounts", "tickets", "crmRecords"})

PRIMARY_KEYS: dict[str, str] = {ep: "name" for ep in ENDPOINTS} | {"activitiesCall": "id_call"} | MODEL_PRIMARY_KEYS

REPLICATION_KEYS: dict[str, str | None] = {
    "tickets": "edited",
    "contacts": "edited",
    "accounts": "edited",
    "crmRecords": "edited",
    "campaignsRecords": "edited",
    "activities": "time",
    "activitiesChat": "time",
    "activitiesEmail": "time",
    "activitiesCall": "call_time",
    "groups": None,
    "pauses": None,
    "queues": None,
    "statuses": None,
    "templates": None,
    "users": None,
    **{ep: "time" for ep in CHANNELS},
    "ticketsCategories": None,
    "campaignsTypes": None,
    **dict.fromkeys(MODEL_ENDPOINTS),
    **MODEL_REPLICATION_KEYS,
}

_REF = {"groups": 25, "pauses": 25, "queues": 25, "statuses": 25, "templates": 25, "users": 25}
SCALES: dict[str, dict[str, int]] = {
    "small": {
        "tickets": 60,
        "contacts": 40,
        "activities": 60,
        "activitiesChat": 25,
        "activitiesEmail": 25,
        "activitiesCall": 25,
        "accounts": 25,
        "crmRecords": 30,
        "campaignsRecords": 30,
        **_REF,
        **{ep: 20 for ep in CHANNELS},
        "ticketsCategories": 12,
        "campaignsTypes": 5,
    },
    "demo": {
        "tickets": 1000,
        "contacts": 500,
        "activities": 1500,
        "activitiesChat": 400,
        "activitiesEmail": 400,
        "activitiesCall": 400,
        "accounts": 100,
        "crmRecords": 200,
        "campaignsRecords": 300,
        "groups": 15,
        "pauses": 12,
        "queues": 30,
        "statuses": 30,
        "templates": 40,
        "users": 40,
        **{ep: 200 for ep in CHANNELS},
        "ticketsCategories": 20,
        "campaignsTypes": 8,
    },
    "bench": {
        "tickets": 10000,
        "contacts": 5000,
        "activities": 20000,
        "activitiesChat": 5000,
        "activitiesEmail": 5000,
        "activitiesCall": 5000,
        "accounts": 1000,
        "crmRecords": 2000,
        "campaignsRecords": 3000,
        "groups": 30,
        "pauses": 20,
        "queues": 100,
        "statuses": 60,
        "templates": 150,
        "users": 200,
        **{ep: 2000 for ep in CHANNELS},
        "ticketsCategories": 30,
        "campaignsTypes": 10,
    },
}
SCALES["bench10"] = {ep: n * 10 for ep, n in SCALES["bench"].items()} | {"ticketsCategories": 30, "campaignsTypes": 10}
for _scale, _sizes in MODEL_SCALES.items():
    SCALES[_scale] |= _sizes

DATA_START = datetime(2024, 1, 1, 0, 0, 0)
DATA_END = datetime(2025, 6, 30, 23, 59, 59)
# Local wall-clock hours that do not exist in Europe/Prague (spring forward).
_SKIPPED_HOURS = {(2024, 3, 31, 2), (2025, 3, 30, 2)}

FIRST_NAMES = [
    "Jan",
    "Petr",
    "Jiří",
    "Tomáš",
    "Eva",
    "Jana",
    "Lucie",
    "Kateřina",
    "Zdeněk",
    "Růžena",
    "Ondřej",
    "Šárka",
]
LAST_NAMES = ["Novák", "Svoboda", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Němec", "Růžička"]
COMPANIES = [
    "Aviatik s.r.o.",
    "Žluťoučký kůň a.s.",
    'Pekárna "U Čápa"',
    "Škoda & syn, v.o.s.",
    "Ёлка GmbH",
    "Řeznictví 🥩",
]
TITLES = [
    "Reklamace objednávky č. 12345",
    "Dotaz na fakturu \u2013 „urgentní“",
    "Re: Problém s přihlášením, prosím o pomoc 🙏",
    "Žádost o změnu tarifu; ěščřžýáíé",
    'Zákazník říká: "nefunguje to"',
    "Objednávka\nna dva řádky",
    "Fwd: Výpadek služby 14:00\u201315:30, Praha",
    "Ahoj, 'apostrof', čárka, a středník;",
    "Vrácení zboží 😀 🚚",
    "Test <b>HTML</b> & entity &amp; v předmětu",
]
HTML_TEXTS = [
    "<p>Dobrý den,<br />prosím o <b>vyřízení</b> reklamace.</p>\n<p>S pozdravem, Jan Novák 😊</p>",
    '<div style="font-family: Arial">Zásilka nedorazila, číslo: "CZ-123,456"</div>',
    "Plain text bez HTML, ale s\nnovými řádky\r\na tabulátorem\t.",
    "<table><tr><td>Položka</td><td>Cena</td></tr><tr><td>Čaj</td><td>1 234,50 Kč</td></tr></table>",
    "",
    "Příliš žluťoučký kůň úpěl ďábelské ódy. ěščřžýáíé ĚŠČŘŽÝÁÍÉ",
    "<p>Quote: &quot;text&quot; &lt;tag&gt; 'single' \"double\" \\backslash</p>",
    "Emoji: 👍🏽 🇨🇿 ❤️ — dash … ellipsis",
]
COLORS = ["#44ff00", "", "#ff0000", "#0055aa", "#ffaa00"]
MESSAGES = [
    "Dobrý den, kdy mi dorazí objednávka č. 12345? 📦",
    "Děkuji za rychlou odpověď 👍🏽",
    "Prosím o zavolání zpět na +420 777 123 456, díky!",
    "Zásilka přišla poškozená 😞 \u2013 co teď?",
    "Ahoj! Máte otevřeno i o víkendu? 🕐",
    "Příliš žluťoučký kůň úpěl ďábelské ódy 🐴",
    "Chci zrušit tarif.\nDůvod: stěhování 🚚",
    "Můžete mi poslat fakturu za „září“? 🧾",
    'Píše: "nefunguje mi přihlášení" 🙏 ěščřžýáíé',
]
WEB_HOSTS = ["www.firma.cz", "eshop.firma.cz", "firma.sk"]
WEB_PATHS = ["/", "/kontakt", "/eshop/košík?krok=2", "/podpora/faq#platby", "/produkty/internet-500?utm_source=fb"]
WEB_BROWSERS = ["Chrome 126.0 (Windows 10)", "Firefox 127.0 (Ubuntu)", "Safari 17.5 (macOS 14.5)", "Edge 126.0"]
WEB_BROWSERS_MOBILE = ["Chrome Mobile 126.0 (Android 14)", "Mobile Safari 17.5 (iOS 17.5)", "Samsung Internet 25"]
ADDRESSES = [
    "Václavské náměstí 1, 110 00 Praha 1",
    "Masarykova 12, 602 00 Brno",
    "Žižkova 3/7, 370 01 České Budějovice",
]
ATTACHMENT_FILES = [
    ("favicon.png", "image/png"),
    ("faktura_č_2024.pdf", "application/pdf"),
    ("fotka 😀.jpg", "image/jpeg"),
    ("smlouva (podepsaná).docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
]
# Custom-field catalogue per model: (name, type, title, multiple, selectbox items, always present). Each simulator
# instance picks the always-present fields plus a seeded subset of the rest.
CF_CATALOGUE: dict[str, list[tuple[str, str, str, bool, list[str], bool]]] = {
    "contacts": [
        ("number", "PHONE", "Telefon", True, [], True),
        ("email", "EMAIL", "Email", True, [], True),
        ("address", "ADDRESS", "Adresa", False, [], False),
        ("note", "TEXTAREA", "Poznámka", False, [], False),
        ("segment", "SELECTBOX", "Segment zákazníka", False, ["VIP", "Běžný", "Nový"], True),
        ("datum_narozeni", "DATE", "Datum narození", False, [], False),
        ("zajmy", "SELECTBOX", "Zájmy", True, ["Internet", "Televize", "Mobilní tarif", "Pevná linka"], False),
        ("ico", "TEXT", "IČO", False, [], False),
    ],
    "accounts": [
        ("ico", "TEXT", "IČO", False, [], True),
        ("telefon", "PHONE", "Telefon", True, [], True),
        ("fakturacni_email", "EMAIL", "Fakturační e-mail", True, [], False),
        ("obor", "SELECTBOX", "Obor", False, ["Výroba", "Obchod", "Služby", "Veřejná správa"], False),
        ("poznamka", "TEXTAREA", "Poznámka", False, [], False),
        ("datum_smlouvy", "DATE", "Datum smlouvy", False, [], False),
    ],
    "tickets": [
        ("order_number", "TEXT", "Číslo objednávky", False, [], True),
        ("product", "SELECTBOX", "Produkt", True, ["Internet", "TV", "Tarif"], True),
        ("note", "TEXTAREA", "Poznámka", False, [], True),
        ("kanal", "SELECTBOX", "Kanál", False, ["Telefon", "E-mail", "Chat", "Pobočka"], False),
        ("datum_reklamace", "DATE", "Datum reklamace", False, [], False),
        ("kontaktni_telefon", "PHONE", "Kontaktní telefon", True, [], False),
        ("tagy", "TEXT", "Štítky", True, [], False),
    ],
    "crmRecords": [
        ("nr_polisy", "TEXT", "Číslo pojistky", False, [], True),
        ("produkty", "SELECTBOX", "Produkty", True, ["Leasing", "Pojištění", "GAP"], True),
        ("model", "TEXT", "Model", False, [], False),
        ("vin", "TEXT", "VIN", False, [], False),
        ("marka", "SELECTBOX", "Značka", False, ["Škoda", "Hyundai", "Kia", "Dacia"], False),
        ("konec_pojistky", "DATE", "Konec pojistky", False, [], True),
        ("poznamka", "TEXTAREA", "Poznámka", False, [], False),
        ("telefon", "PHONE", "Telefon", True, [], False),
    ],
    "campaignsRecords": [
        ("number", "PHONE", "Telefon", True, [], True),
        ("note", "TEXT", "Poznámka", False, [], True),
        ("vysledek", "SELECTBOX", "Výsledek hovoru", False, ["Zájem", "Nezájem", "Zavolat později"], False),
        ("termin", "DATE", "Termín", False, [], False),
        ("email", "EMAIL", "Email", True, [], False),
    ],
    "activities": [
        ("note", "TEXT", "Poznámka", False, [], True),
        ("tagy", "SELECTBOX", "Štítky", True, ["Stížnost", "Pochvala", "Dotaz"], True),
        ("shrnuti", "TEXTAREA", "Shrnutí", False, [], False),
    ],
}


def fmt(dt: datetime) -> str:
    return dt.isoformat(" ")


def fix_local(dt: datetime) -> datetime:
    """Move a naive Prague wall-clock time out of the non-existent spring-forward hour."""
    if dt.hour == 2 and (dt.year, dt.month, dt.day, 2) in _SKIPPED_HOURS:
        return dt + timedelta(hours=1)
    return dt


def sys_(model: str, hash_: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"hash": hash_, "model": model, **extra}


class Encoder:
    """Encodes records into byte fragments, reusing cached fragments of shared nested objects.

    Only the top-level dict of a record and dict elements of its lists (e.g. nested ``activities``) are split;
    any other nested value that is not a shared object is serialised with orjson as a whole.
    """

    def __init__(self) -> None:
        self.cache: dict[int, tuple[bytes, ...]] = {}
        self.keep: list[Any] = []  # keep shared objects alive so their ids stay unique
        self.keybytes: dict[str, bytes] = {}

    def share(self, obj: Any, frags: tuple[bytes, ...] | None = None) -> Any:
        if obj is None or id(obj) in self.cache:
            return obj
        self.cache[id(obj)] = frags if frags is not None else (orjson.dumps(obj),)
        self.keep.append(obj)
        return obj

    def encode(self, rec: dict[str, Any]) -> tuple[bytes, ...]:
        parts: list[bytes] = []
        self._dict(rec, parts)
        return tuple(parts)

    def _dict(self, rec: dict[str, Any], parts: list[bytes]) -> None:
        plain: dict[str, Any] = {}
        refs: list[tuple[str, Any]] = []
        cache = self.cache
        for k, v in rec.items():
            if isinstance(v, dict):
                if id(v) in cache:
                    refs.append((k, v))
                    continue
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                refs.append((k, v))
                continue
            plain[k] = v
        head = orjson.dumps(plain)
        if not refs:
            parts.append(head)
            return
        parts.append(head[:-1])
        first = not plain
        for k, v in refs:
            kb = self.keybytes.get(k)
            if kb is None:
                kb = self.keybytes[k] = b"," + orjson.dumps(k) + b":"
            parts.append(kb[1:] if first else kb)
            first = False
            if isinstance(v, dict):
                parts.extend(cache[id(v)])
            else:
                parts.append(b"[")
                for i, el in enumerate(v):
                    if i:
                        parts.append(b",")
                    c = cache.get(id(el))
                    if c is not None:
                        parts.extend(c)
                    elif isinstance(el, dict):
                        self._dict(el, parts)
                    else:
                        parts.append(orjson.dumps(el))
                parts.append(b"]")
        parts.append(b"}")


class Generator(ModelsMixin):
    def __init__(self, seed: int, sizes: dict[str, int]) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.nrng = random.Random(f"{seed}-models")  # the models of `models.py`
        # fields added after the first release draw from their own stream, so the seeded data stays as it was
        self.xrng = random.Random(f"{seed}-fields")
        self.sizes = sizes
        self.enc = Encoder()
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self._uniq = 0

    # ------------------------------------------------------------------ helpers
    def uniqid(self, prefix: str) -> str:
        self._uniq += 1
        return f"{prefix}_{0x627382E40611A + self._uniq * 104729:013x}{self.rng.randrange(10**9):09d}"

    def times(self, n: int, start: datetime = DATA_START, end: datetime = DATA_END) -> list[datetime]:
        rng = self.rng
        span = int((end - start).total_seconds())
        out = [fix_local(start + timedelta(seconds=rng.randrange(span))) for _ in range(n)]
        if n >= 8 and start <= datetime(2024, 10, 27) <= end:
            # the repeated autumn hour 02:00-02:59 and the edges of the skipped spring hour
            k = max(2, n // 200)
            for i in rng.sample(range(n), k):
                out[i] = datetime(2024, 10, 27, 2, rng.randrange(60), rng.randrange(60))
            out[rng.randrange(n)] = datetime(2024, 3, 31, 1, 59, 59)
            out[rng.randrange(n)] = datetime(2024, 3, 31, 3, 0, 0)
        out.sort()
        for i in range(1, n):  # same-second ties
            if rng.random() < 0.04:
                out[i] = out[i - 1]
        return out

    def edited_after(self, created: list[datetime]) -> list[str]:
        rng = self.rng
        res = []
        for c in created:
            r = rng.random()
            delay = 0 if r < 0.15 else int(rng.expovariate(1 / 400000))
            e = fix_local(min(DATA_END, c + timedelta(seconds=delay)))
            res.append(e)
        # same-second ties on the replication key
        for i in rng.sample(range(len(res)), len(res) // 20):
            j = rng.randrange(len(res))
            if res[j] >= created[i]:
                res[i] = res[j]
        return [fmt(e) for e in res]

    def pick(self, seq: list[Any], p_none: float = 0.0) -> Any:
        if not seq or (p_none and self.rng.random() < p_none):
            return None
        return seq[self.rng.randrange(len(seq))]

    def person(self) -> tuple[str, str]:
        return self.pick(FIRST_NAMES), self.pick(LAST_NAMES)

    def phone(self) -> str:
        return f"+420 {self.rng.randrange(600, 800)} {self.rng.randrange(1000):03d} {self.rng.randrange(1000):03d}"

    def text(self) -> str:
        return self.pick(HTML_TEXTS)

    def title(self) -> str:
        return self.pick(TITLES)

    # ------------------------------------------------------------ custom fields
    def cf_spec(self, ftype: str, title: str, multiple: bool, items: list[str] | None = None) -> dict[str, Any]:
        """One custom field's scheme entry, shaped like `_sys.cfScheme` values in real responses."""
        return {
            "type": ftype,
            "title": title,
            "hidden": False,
            "readonly": False,
            "readonly_in_activity": False,
            "readonly_in_update": False,
            "multiple": multiple,
            "items": [{"name": self.uniqid("option"), "title": v, "value": v} for v in items or []],
        }

    def build_schemes(self) -> None:
        """Each model's custom fields for this instance (seeded); activities have none for even seeds."""
        rng = self.rng
        self.schemes: dict[str, dict[str, dict[str, Any]]] = {}
        for model, catalogue in CF_CATALOGUE.items():
            optional = [c for c in catalogue if not c[5]]
            chosen = set(rng.sample(range(len(optional)), rng.randrange(len(optional) // 2, len(optional) + 1)))
            keep = {c[0] for i, c in enumerate(optional) if i in chosen}
            scheme = {}
            if model != "activities" or self.seed % 2:
                for name, ftype, title, multiple, items, always in catalogue:
                    if always or name in keep:
                        scheme[name] = self.cf_spec(ftype, title, multiple, items)
            self.schemes[model] = scheme

    def cf_value(self, spec: dict[str, Any]) -> list[str | None]:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return []
        if r < 0.34:
            return [None]
        multiple = spec.get("multiple", False)
        n = rng.randrange(1, 3) if multiple else 1
        t = spec.get("type")
        items = spec.get("items") or []
        if items:
            values = [it["value"] for it in items]
            return rng.sample(values, min(len(values), rng.randrange(1, 4))) if multiple else [rng.choice(values)]
        if t == "PHONE":
            return [self.phone() for _ in range(n)]
        if t == "EMAIL":
            return [f"{self.pick(FIRST_NAMES).lower()}.{rng.randrange(999)}@example.cz" for _ in range(n)]
        if t == "DATE":
            return [f"{rng.choice((2023, 2024, 2025))}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"]
        if t == "TEXTAREA":
            return [self.text()]
        if t == "ADDRESS":
            return [rng.choice(ADDRESSES)]
        return [self.pick(TITLES) if rng.random() < 0.5 else f"{rng.randrange(10**7):07d}" for _ in range(n)]

    def cf(self, model: str, p_empty: float = 0.1, skip: frozenset[str] = frozenset()) -> Any:
        """A record's customFields: {name: [str, ...]}, or PHP's [] (model without fields, or an empty record)."""
        scheme = self.schemes.get(model)
        if not scheme or self.rng.random() < p_empty:
            return []
        out = {k: self.cf_value(spec) for k, spec in scheme.items() if k not in skip}
        return out or []

    # --------------------------------------------------------------- pools
    def build(self) -> dict[str, list[dict[str, Any]]]:
        s = self.sizes
        self.build_reference()
        self.tables["users"] = self.users = [self.make_user(i) for i in range(max(1, s.get("users", 0)))]
        for u in self.users:
            self.enc.share(u)
        self.tables["queues"] = self.queues = [self.make_queue(i) for i in range(max(1, s.get("queues", 0)))]
        for q in self.queues:
            self.enc.share(q)
        self.tables["statuses"] = self.statuses = [self.make_status(i) for i in range(max(1, s.get("statuses", 0)))]
        for st in self.statuses:
            self.enc.share(st)
        self.tables["groups"] = [self.make_group(i) for i in range(s.get("groups", 0))]
        self.tables["pauses"] = [self.make_pause(i) for i in range(s.get("pauses", 0))]
        self.tables["templates"] = []
        for i in range(s.get("templates", 0)):
            self.tables["templates"].append(self.make_template(i))
        self.categories = [self.make_category(i) for i in range(max(1, s.get("ticketsCategories", 8)))]
        self.tables["ticketsCategories"] = self.categories
        self.build_accounts(s.get("accounts", 0))
        self.build_contacts(s.get("contacts", 0))
        self.build_tickets(s.get("tickets", 0))
        self.build_crm_records(s.get("crmRecords", 0))
        self.build_campaign_records(s.get("campaignsRecords", 0))
        self.tables["campaignsTypes"] = self.camp_types
        self.build_activities()
        self.build_models()
        # keep users/queues/statuses etc. unshared in the table but shared as nested objects
        return self.tables

    def build_reference(self) -> None:
        enc = self.enc
        rights = [
            "accounts", "activities", "analytics", "articles", "billing", "calls", "campaignsRecords", "chats",
            "contacts", "crmRecords", "emails", "export", "groups", "pauses", "queues", "reports", "statuses",
            "templates", "tickets", "users",
        ]  # fmt: skip
        self.roles = []
        for i, (title, typ) in enumerate([("Administrátor", "CC"), ("Operátor", "CC"), ("Back office", "BO")]):
            opts: dict[str, Any] = {r: self.rng.choice([0, 1, 2, 15]) for r in rights}
            opts["_setDependencies"] = True
            role = {
                "name": f"role_{i:02d}" if i else "admin",
                "title": title,
                "description": "",
                "shortcuts": [],
                "gpt_custom_prompts": [],
                "options": opts,
                "type": typ,
                "_sys": sys_("roles"),
                "_rdata": None,
                "_guiData": [],
            }
            self.roles.append(enc.share(role))
        self.profiles = []
        for i, title in enumerate(["Výchozí profil", "Supervizor", "Externista"]):
            views = {
                f"view_{0x68021F743C2DC + i * 977 + k:013x}": {
                    "title": f"Pohled {k}",
                    "filter": {"stage": ["OPEN", "WAIT"]},
                    "columns": ["name", "title", "stage", "user", "edited"],
                }
                for k in range(1)
            }
            prof = {
                "name": f"profile_{i:02d}",
                "title": title,
                "description": "",
                "type": "CC" if i < 2 else "BO",
                "maxActivities": self.rng.choice([None, 3, 5]),
                "maxOutRecords": 1,
                "deleteMissedActivity": False,
                "noQueueCallsAllowed": False,
                "canTransferCall": "blind and assisted transfer",
                "monitoringModes": 15,
                "gptFunctions": 0,
                "askForAssistance": True,
                "options": {"dashboard": "tickets", "sounds": True},
                "customViews": views,
                "customSocialMediaViews": [],
                "oneTimePassword": False,
                "passwordReset": True,
                "_sys": sys_("profiles"),
                "_rdata": None,
                "_guiData": [],
            }
            self.profiles.append(enc.share(prof))
        self.slas = []
        for i, (title, unit) in enumerate([("Info", "HOURS"), ("Urgentní", "MINUTES"), ("Standard", "HOURS")]):
            sla = {
                "name": f"sla_{0x56CB1BB63C2FA + i:013x}380751433",
                "title": title,
                "unit": unit,
                "response_low": 4,
                "response_normal": 2,
                "response_high": 1,
                "solution_low": 48,
                "solution_normal": 24,
                "solution_high": 8,
                "_sys": sys_("ticketsSla"),
                "_rdata": None,
                "_guiData": [],
            }
            self.slas.append(enc.share(sla))
        self.crm_db = enc.share(
            {
                "name": "default",
                "title": "Default",
                "description": "",
                "available_cp": False,
                "autofocused_contacts_tab": "",
                "autofocused_accounts_tab": "",
                "default": True,
                "contactsCFScheme": None,
                "reverse_names": False,
                "_sys": sys_("crmDatabases"),
                "_rdata": None,
                "_guiData": [],
            }
        )
        self.build_schemes()
        self.build_model_pools()
        self.crm_types = [
            enc.share(
                {
                    "name": f"crmtype_{i}",
                    "title": t,
                    "description": "",
                    "autofocused_tab": "",
                    "created": "2023-05-02 10:00:00",
                    "_sys": sys_("crmRecordsTypes"),
                }
            )
            for i, t in enumerate(["Polisy", "Obchodní příležitost", "Smlouvy"])
        ]
        # crmRecords of different types carry different custom fields: each type lacks some optional ones
        optional = [c[0] for c in CF_CATALOGUE["crmRecords"] if not c[5]]
        self.crm_type_skip = {
            ct["name"]: frozenset(k for k in optional if self.rng.random() < 0.5) for ct in self.crm_types
        }

    def make_user(self, i: int) -> dict[str, Any]:
        user = self._make_user(i)
        # a back-office licence for BO users; a deleted user is also deactivated (listed with `deleted` true)
        user["backoffice_user"] = user["type"] == "BO"
        user["deleted"] = user["deactivated"] and self.xrng.random() < 0.3
        return user

    def _make_user(self, i: int) -> dict[str, Any]:
        rng = self.rng
        first, last = self.person()
        name = "administrator" if i == 0 else f"{last.lower()}.{first.lower()}{i}"
        return {
            "name": name,
            "title": f"{first} {last}",
            "type": rng.choice(["CC", "CC", "BO", "CP"]),
            "alias": f"{first[0]}. {last}",
            "role": self.roles[i % len(self.roles)],
            "profile": self.profiles[i % len(self.profiles)],
            "nps_score": rng.choice([0, 0, 7.5, 9]),
            "description": "",
            "call_steering_description": "",
            "extension": str(200 + i),
            "acl": None,
            "extension_state": rng.choice(["online", "offline", "busy", ""]),
            "presence_state": rng.choice(["online", "offline", None]),
            "clid": "",
            "static": False,
            "frontend_version": rng.choice(["angular", "react"]),
            "allowRecordingInterruption": False,
            "recordAtCallStart": "immediately",
            "algo": None,
            "email": f"{first.lower()}.{last.lower()}@firma.cz",
            "emailAuth": f"{first.lower()}@firma.cz",
            "icon": "",
            "emoji": rng.choice(["", "😎", "🎧"]),
            "mfa_verification": rng.choice([0, 1, 2]),
            "sign": None,
            "ctrl_enter_email": rng.random() < 0.5,
            "options": {
                "target": "terminate|busy",
                "who_to_record": "both_agent_and_customer",
                "registration_ids": [f"fcm:{rng.getrandbits(96):024x}" for _ in range(rng.randrange(2))],
                "ad_password_update": 1701359440 + i,
            },
            "fcmSettings": {"enabled": False},
            "cp_access_crm": False,
            "forwarding_number": "",
            "timezone": rng.choice(["_AUTOMATIC_", "Europe/Prague"]),
            "deactivated": rng.random() < 0.1,
            "_sys": sys_("users"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_queue(self, i: int) -> dict[str, Any]:
        rng = self.rng
        typ = ["in", "email", "chat", "out", "sms", "progressive", "fbm", "igdm", "wap", "vbr"][i % 10]
        opts: Any
        if typ == "email":
            opts = {
                "power": 1,
                "in_ssl": "ssl",
                "address": f"podpora{i}@firma.cz",
                "in_name": "Podpora",
                "in_type": "imap",
                "respond": "1",
                "helpdesk": True,
                "out_name": "Podpora firmy",
                "out_port": 465,
                "reply_to": "",
                "username": f"podpora{i}@firma.cz",
                "in_server": "imap.firma.cz",
                "oauthToken": None,
                "out_server": "smtp.firma.cz",
                "wrapuptime": 30,
                "npstemplate": "",
                "ssl_trusted": True,
                "signtemplate": "",
                "_has_statuses": True,
                "timecondition": "",
                "exclude_emails": ["noreply@firma.cz", "mailer-daemon@firma.cz"],
                "multiple_statuses": False,
                "crm_ticket_category": "",
                "no_keep_on_mailserver": False,
                "respond_outside_timecondition": "",
            }
        elif i % 7 == 3:
            opts = []
        elif i % 11 == 5:
            opts = None
        else:
            opts = {
                "strategy": rng.choice(["ringall", "leastrecent", "random"]),
                "wrapuptime": rng.randrange(0, 60),
                "maxlen": 0,
                "timeout": 15,
                "announce": "Vaše hovor je pro nás důležitý",
                "musiconhold": "default",
                "record": "both",
                "_has_statuses": rng.random() < 0.5,
                "dtmf": {str(k): f"step_{k}" for k in range(6)},
            }
        return {
            "name": (3000 if typ == "email" else 2000) + i,
            "title": f"Fronta {i} \u2013 {typ}",
            "alias": "",
            "description": self.text() if i % 3 == 0 else "",
            "call_steering_description": "",
            "type": typ,
            "direction": "out" if typ in ("out", "progressive") else "in",
            "options": opts,
            "deactivated": i % 9 == 8,
            "_sys": sys_("queues"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_status(self, i: int) -> dict[str, Any]:
        return {
            "name": self.uniqid("status") if i else "status_default",
            "title": ["Vyřešeno", "Čeká na zákazníka", "Spam", "Eskalováno", "Wygrany"][i % 5]
            + ("" if i < 5 else f" {i}"),
            "description": None if i % 2 else "Popis stavu, s čárkou",
            "validation": i % 3 == 0,
            "nextcall": i % 4 == 0,
            "color": COLORS[i % len(COLORS)],
            "_sys": sys_("statuses"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_group(self, i: int) -> dict[str, Any]:
        return {
            "name": f"groups_{0x5A8C1D2E3F4 + i:011x}"[:32],
            "title": f"Skupina {i} \u2013 {self.pick(LAST_NAMES)}",
            "description": self.pick(["", None, "Interní tým; „podpora“"]),
            "type": ["categories", "queues", "users", "profiles"][i % 4],
            "_sys": sys_("groups"),
        }

    def make_pause(self, i: int) -> dict[str, Any]:
        return {
            "name": self.uniqid("pauses"),
            "type": ["", "wrap", "dnd", "lajdak", None][i % 5],
            "title": ["Oběd", "Přestávka", "Školení", "Porada", "Toaleta"][i % 5] + (f" {i}" if i >= 5 else ""),
            "paid": i % 2 == 0,
            "max_duration": [0, 15, 30, 60][i % 4],
            "calculated_from": ["", "- 1 day", None][i % 3],
            "repeatable": i % 3 != 0,
            "max_amount": i % 4,
            "min_timeout": 0,
            "auto_pause": i % 5 == 1,
            "prevent_direct_calls": i % 2 == 1,
            "_sys": sys_("pauses"),
        }

    def make_template(self, i: int) -> dict[str, Any]:
        prev = self.tables["templates"]
        usingtype = ["EMAIL", "SMS", "CHAT", "EMAIL_SIGN", "USERSIGN", "WAP"][i % 6]
        return {
            "name": self.uniqid("templates"),
            "title": f"Šablona {i}: {self.title()}",
            "description": self.pick(["", None, "Odpověď na reklamaci"]),
            "id_template": prev[i // 2] if i % 4 == 3 and prev else None,
            "user": self.pick(self.users, 0.5),
            "format": "RICH" if usingtype.startswith("EMAIL") else "PLAIN",
            "usingtype": usingtype,
            "subject": self.title() if usingtype == "EMAIL" else None,
            "externalDataUrl": None,
            "content": self.text(),
            "config": self.pick([[], {"attachments": [], "lang": "cs"}, None]),
            "_sys": sys_("templates"),
        }

    def make_category(self, i: int) -> dict[str, Any]:
        email_q = [q for q in self.queues if q["type"] == "email"]
        call_q = [q for q in self.queues if q["type"] == "in"]
        sms_q = [q for q in self.queues if q["type"] == "sms"]
        cat = {
            "name": self.uniqid("categories"),
            "title": ["Zákaznická podpora", "Reklamace", "Obchod", "Technika", "Fakturace"][i % 5] + f" {i}",
            "description": self.pick([None, None, "", "Dotazy k fakturaci; „urgentní“ případy 🔥"]),
            "sla": self.slas[i % len(self.slas)],
            "timecondition": self.npick(self.timegroups, 0.5),
            "email_queue": self.pick(email_q, 0.3),
            "call_queue": self.pick(call_q, 0.3),
            "sms_queue": self.pick(sms_q, 0.7),
            "default_crm_database": self.crm_db,
            "allow_external_comments": False,
            "status_required": ["never", "closing_ticket", "always"][i % 3],
            "multiple_statuses": i % 2 == 0,
            "closeCheckChilds": i % 3 == 0,
            "auto_archive_tickets": self.pick([None, None, 30, 90]),
            "autofocused_tab": "",
            "_sys": sys_("ticketsCategories"),
            "_rdata": None,
            "_guiData": [],
        }
        return self.enc.share(cat)

    # ---------------------------------------------------------- data tables
    def make_account(self, t: datetime | str, edited: str | None = None) -> dict[str, Any]:
        created = t if isinstance(t, str) else fmt(t)
        return {
            "name": self.uniqid("account"),
            "title": self.pick(COMPANIES) + f" {self.rng.randrange(1000)}",
            "database": self.crm_database(),
            "sla": self.pick(self.slas, 0.6),
            "user": self.pick(self.users, 0.3),
            "description": self.pick(["", None, "Klíčový zákazník, pozor!"]),
            "created": created,
            "edited": edited or created,
            "customFields": self.cf("accounts"),
            "_sys": sys_("accounts", str(self.rng.randrange(10**6)), cfScheme=self.schemes["accounts"]),
            "_rdata": None,
            "_guiData": [],
        }

    def build_accounts(self, n: int) -> None:
        created = self.times(n)
        edited = self.edited_after(created)
        self.tables["accounts"] = [self.make_account(c, e) for c, e in zip(created, edited, strict=True)]
        self.account_pool = [self.enc.share(a) for a in self.tables["accounts"][:200]]

    def make_contact(self, t: datetime | str, edited: str | None = None) -> dict[str, Any]:
        rng = self.rng
        created = t if isinstance(t, str) else fmt(t)
        first, last = self.person()
        return {
            "name": self.uniqid("contact"),
            "title": f"{first} {last}",
            "firstname": first if rng.random() > 0.05 else None,
            "lastname": last,
            "database": self.crm_db,
            "account": self.pick(self.account_pool, 0.4),
            "user": self.pick(self.users, 0.4),
            "description": self.pick(["", None, self.text()]),
            "nps_score": rng.choice([0, 0, None, 8, 10]),
            "created": created,
            "edited": edited or created,
            "duplicateContacts": None,
            "notDuplicateContacts": None,
            "customFields": self.cf("contacts", 0.05),
            "_sys": sys_("contacts", self.pick([None, str(rng.randrange(10**6))]), cfScheme=self.schemes["contacts"]),
            "_rdata": None,
            "_guiData": [],
        }

    def build_contacts(self, n: int) -> None:
        created = self.times(n)
        edited = self.edited_after(created)
        self.tables["contacts"] = [self.make_contact(c, e) for c, e in zip(created, edited, strict=True)]
        self.contact_pool = [self.enc.share(c) for c in self.tables["contacts"][:300]]

    def make_ticket(self, name: int, t: datetime | str, edited: str | None = None) -> dict[str, Any]:
        ticket = self._make_ticket(name, t, edited)
        # whether the current user has read the followed ticket's latest change (false when not followed)
        ticket["isFollowedRead"] = ticket["isFollowed"] and self.xrng.random() < 0.6
        return ticket

    def _make_ticket(self, name: int, t: datetime | str, edited: str | None = None) -> dict[str, Any]:
        rng = self.rng
        created = t if isinstance(t, str) else fmt(t)
        stage = rng.choice(["OPEN", "WAIT", "CLOSE", "CLOSE", "ARCHIVE"])
        user = self.pick(self.users, 0.2)
        answered = rng.random() < 0.7
        contact = self.pick(self.contact_pool, 0.2)
        return {
            "name": name,
            "title": self.title(),
            "id_merge": None,
            "category": self.pick(self.categories),
            "user": user,
            "email": self.pick(["", "zakaznik@example.cz", None]),
            "contact": contact,
            "parentTicket": None,
            "isParent": False,
            "description": self.text(),
            "stage": stage,
            "priority": rng.choice(["LOW", "MEDIUM", "HIGH"]),
            "sla_overdue": rng.choice([0, 0, rng.randrange(100000)]),
            "sla_deadtime": created,
            "sla_close_deadline": created,
            "sla_change": edited or created,
            "sla_duration": rng.randrange(100000),
            "sla_custom": rng.random() < 0.1,
            "interaction_activity_count": rng.randrange(12),
            "reopen": None,
            "created": created,
            "created_by": self.pick(self.users),
            "edited": edited or created,
            "edited_by": self.pick(self.users),
            "first_answer": created if answered else None,
            "first_answer_duration": rng.randrange(5000) if answered else None,
            "first_answer_deadline": created,
            "first_answer_overdue": 0,
            "closed": (edited or created) if stage in ("CLOSE", "ARCHIVE") else None,
            "unread": rng.random() < 0.2,
            "last_unread_date": None,
            "has_attachment": rng.random() < 0.3,
            "followers": [self.pick(self.users)] if rng.random() < 0.1 else [],
            "statuses": [self.pick(self.statuses)] if rng.random() < 0.4 else [],
            "last_activity": edited or created,
            "last_activity_operator": created if answered else None,
            "last_activity_client": created,
            "customFields": self.cf("tickets", 0.2),
            "_sys": sys_("tickets", self.pick([None, str(rng.randrange(10**6))]), cfScheme=self.schemes["tickets"]),
            "_rdata": None,
            "_guiData": [],
            "isFollowed": rng.random() < 0.15,
        }

    def build_tickets(self, n: int) -> None:
        created = self.times(n)
        edited = self.edited_after(created)
        self.tables["tickets"] = [
            self.make_ticket(9000 + i, c, e) for i, (c, e) in enumerate(zip(created, edited, strict=True))
        ]
        self.next_ticket = 9000 + n
        step = max(1, n // 1500)
        self.ticket_pool = [self.enc.share(t) for t in self.tables["tickets"][::step]]

    def make_crm_record(self, t: datetime | str, edited: str | None = None) -> dict[str, Any]:
        rng = self.rng
        created = t if isinstance(t, str) else fmt(t)
        crm_type = self.pick(self.crm_types)
        return {
            "name": self.uniqid("record"),
            "type": crm_type,
            "user": self.pick(self.users, 0.2),
            "contact": self.pick(self.contact_pool, 0.3),
            "account": self.pick(self.account_pool, 0.5),
            "ticket": self.pick(self.ticket_pool, 0.6),
            "title": self.title(),
            "description": self.pick(["", None, self.text()]),
            "status": self.pick(self.statuses, 0.5),
            "created": created,
            "edited": edited or created,
            "stage": rng.choice(["OPEN", "CLOSE"]),
            "customFields": self.cf("crmRecords", 0.1, self.crm_type_skip[crm_type["name"]]),
            "_sys": sys_("crmRecords", None, cfScheme=self.schemes["crmRecords"]),
            "_rdata": None,
            "_guiData": [],
        }

    def build_crm_records(self, n: int) -> None:
        created = self.times(n)
        edited = self.edited_after(created)
        self.tables["crmRecords"] = [self.make_crm_record(c, e) for c, e in zip(created, edited, strict=True)]

    def make_campaign_type(self, i: int) -> dict[str, Any]:
        out_q = [q for q in self.queues if q["direction"] == "out"] or self.queues
        titles = ["Telemarketing", "Průzkum spokojenosti", "Upomínky", "Obnova smluv", "Win-back 🎯", "Dotazník NPS"]
        ct = {
            "name": f"campaignsTypes_{i}",
            "title": titles[i % len(titles)] + (f" {i}" if i >= len(titles) else ""),
            "description": self.pick(["", None, "Odchozí kampaň \u2013 „jaro“"]),
            "created": fmt(datetime(2023, 1, 10, 9, 0, 0) + timedelta(days=17 * i, minutes=i)),
            "queue": self.pick(out_q),
            "autofocused_tab": self.pick(["", "contact", "record"]),
            "config": {"fields": ["number", "email"], "autoDial": i % 2 == 0} if i % 3 else [],
            "custom": i % 4 == 3,
            "icon": ["phone", "star", "", "envelope", "chart-line"][i % 5],
            "color": COLORS[i % len(COLORS)],
            "_sys": sys_("campaignsTypes"),
            "_rdata": None,
            "_guiData": [],
        }
        return self.enc.share(ct)

    def build_campaign_pools(self) -> None:
        self.camp_types = [self.make_campaign_type(i) for i in range(max(1, self.sizes.get("campaignsTypes", 3)))]
        self.camp_dbs = []
        for i, ct in enumerate(self.camp_types):
            db = {
                "name": f"campaignsDatabases_{i}",
                "title": f"Databáze {i}",
                "description": None,
                "record_type": ct,
                "stage": "OPEN",
                "priority": i,
                "mixing_ratio": 1,
                "_sys": sys_("databases"),
                "_rdata": None,
                "_guiData": [],
            }
            self.camp_dbs.append(self.enc.share(db))

    def make_campaign_record(self, t: datetime | str, edited: str | None = None) -> dict[str, Any]:
        rng = self.rng
        created = t if isinstance(t, str) else fmt(t)
        i = rng.randrange(len(self.camp_types))
        return {
            "name": self.uniqid("records"),
            "user": self.pick(self.users, 0.3),
            "record_type": self.camp_types[i],
            "database": self.camp_dbs[i],
            "nextcall": self.pick([None, edited or created]),
            "action": rng.randrange(7),
            "call_id": self.pick([None, f"{rng.getrandbits(40):010x}.{rng.randrange(9999)}"]),
            "activity": None,
            "options": self.pick([None, [], {"attempts": rng.randrange(5), "lastResult": "NOANSWER"}]),
            "contact": self.pick(self.contact_pool, 0.2),
            "edited": edited or created,
            "created": created,
            "statuses": [self.pick(self.statuses)] if rng.random() < 0.3 else [],
            "customFields": self.cf("campaignsRecords", 0.2),
            "_sys": sys_("campaignsRecords"),
            "_rdata": None,
            "_guiData": [],
        }

    def build_campaign_records(self, n: int) -> None:
        self.build_campaign_pools()
        created = self.times(n)
        edited = self.edited_after(created)
        self.tables["campaignsRecords"] = [
            self.make_campaign_record(c, e) for c, e in zip(created, edited, strict=True)
        ]

    # ------------------------------------------------------------ activities
    def queue_of(self, typ: str) -> dict[str, Any]:
        by_type = self.__dict__.setdefault("_queues_by_type", {})
        qs = by_type.get(typ)
        if qs is None:
            qs = by_type[typ] = [q for q in self.queues if q["type"] == typ] or self.queues
        return self.pick(qs)

    def make_call(self, t: str, activity: dict[str, Any] | None) -> dict[str, Any]:
        rng = self.rng
        direction = rng.choice(["in", "in", "out", "internal"])
        answered = rng.random() < 0.75
        missed = None if answered else rng.choice([1, 0])
        num = self.phone()
        return {
            "id_call": f"{0x5F1A2B3C + self._next():x}.{rng.randrange(10**6)}",
            "call_time": t,
            "direction": direction,
            "answered": answered,
            "id_queue": self.queue_of("in"),
            "id_agent": self.pick(self.users, 0.2 if answered else 0.7),
            "clid": num,
            "contact": self.pick(self.contact_pool, 0.4),
            "prefix_clid_name": self.pick(["", "VIP: ", None]),
            "did": "+420 222 111 000",
            "waiting_time": rng.randrange(300),
            "ringing_time": rng.randrange(40),
            "duration": rng.randrange(1, 1800) if answered else 0,
            "disposition_cause": rng.choice(["", "caller", "agent", "transfer", "system"]),
            "disconnection_cause": "" if answered else rng.choice(["abandon", "exitwithtimeout", "busy", "noanswer"]),
            "pressed_key": self.pick(["", "1", "2", None]),
            "missed_call": missed,
            "missed_call_time": t if missed == 0 else None,
            "missed_callback": None,
            "attempts": rng.randrange(3),
            "options": self.pick([[], None, {"missedagentname": "Jan Novák", "transfer": False}]),
            "cdr": {
                "name": f"cdr_{rng.getrandbits(48):012x}",
                "direction": direction,
                "src": num,
                "dst": "+420 222 111 000",
                "time_created": t,
                "time_closed": t,
            },
            "hold_time": rng.randrange(60),
            "activities": [activity] if activity is not None else [],
            "_sys": sys_("activitiesCall"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_email(self, t: str, activity: dict[str, Any] | None) -> dict[str, Any]:
        rng = self.rng
        direction = rng.choice(["in", "in", "out"])
        addr = f"{self.pick(FIRST_NAMES).lower()}.{rng.randrange(999)}@example.cz"
        queue = self.queue_of("email")
        qopts = queue["options"] if isinstance(queue["options"], dict) else {}
        qaddr = qopts.get("address", "podpora@firma.cz")
        frm = [{"address": addr, "display": self.pick(FIRST_NAMES), "is_group": False}]
        to = [{"address": qaddr, "display": qaddr, "is_group": False}]
        return {
            "name": self.uniqid("emails"),
            "queue": queue,
            "user": self.pick(self.users, 0.3),
            "contact": self.pick(self.contact_pool, 0.3),
            "title": self.title(),
            "address": addr,
            "direction": direction,
            "wait_time": self.pick([None, rng.randrange(10000)]),
            "duration": self.pick([None, rng.randrange(1000)]),
            "answered": rng.random() < 0.6,
            "text": self.text() * rng.randrange(1, 4),
            "options": {
                "headers": {
                    "cc": [],
                    "to": to if direction == "in" else frm,
                    "date": t,
                    "from": frm if direction == "in" else to,
                    "ticket": str(activity["ticket"]["name"]) if activity and activity.get("ticket") else None,
                    "reply-to": [],
                    "message-id": f"<{rng.getrandbits(64):016x}@mail.example.cz>",
                    "references": "",
                    "return-path": f"<{addr}>",
                    "auto-submitted": False,
                }
            },
            "time": t,
            "state": self.pick(["SENT", "", None, "WAIT"]),
            "files": (
                [
                    {
                        "file": rng.randrange(10**5),
                        "email": rng.randrange(10**5),
                        "inline": "0",
                        "cid": "",
                        "title": "faktura_č_2024.pdf",
                        "type": "application/pdf",
                        "size": rng.randrange(10**6),
                        "time": t,
                        "_sys": sys_("activitiesEmailFiles"),
                    }
                ]
                if rng.random() < 0.2
                else []
            ),
            "attachments": [],
            "activities": [activity] if activity is not None else [],
            "_sys": sys_("activitiesEmail"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_chat(self, t: str, activity: dict[str, Any] | None) -> dict[str, Any]:
        rng = self.rng
        first, last = self.person()
        answered = rng.random() < 0.8
        return {
            "name": self.uniqid("chat"),
            "title": f"{first} {last}",
            "email": self.pick([None, f"{first.lower()}@example.cz"]),
            "phone": self.pick([None, self.phone()]),
            "wait_time": rng.randrange(200),
            "duration": rng.randrange(2000) if answered else 0,
            "answered": answered,
            "disconnection": rng.choice(["", "USER", "CLIENT", "TIMEOUT"]),
            "time": t,
            "missed": "" if answered else rng.choice(["YES", "NO"]),
            "missed_time": None if answered else t,
            "queue": self.queue_of("chat"),
            "user": self.pick(self.users, 0.2),
            "contact": self.pick(self.contact_pool, 0.4),
            "options": {
                "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
                "country_code": rng.choice(["CZ", "SK", "PL"]),
                "referer": "https://www.firma.cz/kontakt?utm_source=google&a=1,2",
                "browser": "Firefox 120",
            },
            "activities": [activity] if activity is not None else [],
            "_sys": sys_("activitiesChat"),
            "_rdata": None,
            "_guiData": [],
        }

    # ------------------------------------------------------ message channels
    def make_connector(self, ep: str, i: int) -> dict[str, Any]:
        rng = self.rng
        typ, prefix, _q, model = CHANNELS[ep]
        user = self.pick(self.users)
        con: dict[str, Any] = {
            "name": self.uniqid(f"{prefix}Inbound"),
            "production": None,
            "isChanged": i % 3 == 2,
            "user": user,
            "edited": fmt(datetime(2023, 11, 2, 10, 15, 0) + timedelta(days=31 * i, seconds=rng.randrange(86400))),
            "accessToken": f"{rng.getrandbits(128):032x}",
            "title": f"{typ} konektor {i} \u2013 {self.pick(['Podpora', 'Obchod', 'Česko 🇨🇿'])}",
            "description": self.pick(["", None, "Hlavní kanál zákaznické podpory"]),
            "nextDestination": f"queue_{self.queue_of(_QTYPE.get(typ, 'chat'))['name']}",
        }
        if ep == "activitiesSms":
            con |= {
                "connector": rng.choice(["HYPER", "SMSCONNECT"]),
                "prefix": self.pick(["", "+420"]),
                "unicode": rng.random() < 0.7,
                "deliveryReceipt": rng.random() < 0.5,
                "sender": "FIRMA",
                "priority": str(rng.randrange(21)),
                "callerid_rules": None,
            }
        elif ep in ("activitiesFbm", "activitiesIgdm"):
            page = f"{rng.randrange(10**14, 10**15)}"
            site = "facebook" if ep == "activitiesFbm" else "instagram"
            con |= {
                "pageIcon": f"https://graph.{site}.com/{page}/picture",
                "pageID": page,
                "pageUrl": f"https://www.{site}.com/firma.cz",
                "pageName": "Firma.cz \u2013 zákaznická péče",
                "authorized": rng.random() < 0.9,
                "authorizedBy": user["name"],
                "clientSettings": self.pick([[], {"autoReply": True, "greeting": "Dobrý den 👋"}]),
            }
        elif ep == "activitiesWap":
            con |= {
                "apiToken": f"EAAG{rng.getrandbits(160):040x}",
                "channelID": f"{rng.getrandbits(48):012x}",
                "number": self.phone(),
                "whatsappNumberID": str(rng.randrange(10**14, 10**15)),
                "authorized": True,
                "authorizedBy": user["name"],
                "clientSettings": self.pick([[], {"templatesLanguage": "cs"}]),
            }
        elif ep == "activitiesVbr":
            con |= {
                "url": "https://chatapi.viber.com/pa",
                "clientSettings": self.pick([[], {"welcomeMessage": "Vítejte! 🙂"}]),
            }
        else:
            con |= {
                "language": rng.choice(["cs_CZ", "sk_SK", "en_US"]),
                "npsAllow": rng.random() < 0.5,
                "npsTemplate": None,
                "ctcQueues": [],
                "userSettings": {"showTyping": True},
                "clientSettings": {"position": "right", "color": "#0055aa"},
                "inputs": [{"name": "email", "required": True}, {"name": "phone", "required": False}],
                "greetings": {"cs": "Dobrý den, jak vám můžeme pomoci? 😊"},
                "design": self.pick([[], {"theme": "light", "logo": "https://www.firma.cz/logo.svg"}]),
            }
        con |= {"_sys": sys_(model), "_rdata": None, "_guiData": []}
        return self.enc.share(con)

    def make_external_contact(self, ep: str, i: int) -> dict[str, Any]:
        rng = self.rng
        first, last = self.person()
        ext: dict[str, Any] = {
            "id": str(rng.randrange(10**15, 10**16)),
            "uuid": f"{rng.getrandbits(128):032x}",
            "full_name": self.pick([f"{first} {last}", f"{first} {last} 🌻", first]),
            "crm_contact": self.pick(self.contact_pool, 0.5),
            "connector": i % 3 + 1,
            "gender": rng.choice(["", "MALE", "FEMALE"]),
        }
        if ep == "activitiesWap":
            ext["number"] = self.phone()
        ext |= {"_sys": sys_(f"{CHANNELS[ep][1]}Contacts"), "_rdata": None, "_guiData": []}
        return self.enc.share(ext)

    def build_channel_pools(self) -> None:
        self.connectors = {ep: [self.make_connector(ep, i) for i in range(3)] for ep in CHANNELS}
        n_ext = {ep: max(5, min(300, self.sizes.get(ep, 0) // 4)) for ep in CHANNELS}
        self.external_contacts = {
            ep: [self.make_external_contact(ep, i) for i in range(n_ext[ep])]
            for ep in CHANNELS
            if ep not in ("activitiesSms", "activitiesWeb")
        }

    def make_message(self, ep: str, t: str, activity: dict[str, Any] | None) -> dict[str, Any]:
        """One record of a message channel (SMS, Messenger, Instagram, WhatsApp, Viber, web chat)."""
        rng = self.rng
        _typ, prefix, qtype, _model = CHANNELS[ep]
        answered = rng.random() < 0.8
        first, last = self.person()
        rec: dict[str, Any] = {"name": self.uniqid(prefix)}
        if ep != "activitiesSms":
            rec["title"] = self.pick([f"{first} {last}", f"{first} {last} 😊", ""])
        rec["state"] = rng.choice(["", "", "", "ROUTING"])
        rec["connector"] = self.pick(self.connectors[ep])
        rec["user"] = self.pick(self.users, 0.2 if answered else 0.7)
        rec["queue"] = self.queue_of(qtype)
        rec["contact"] = self.pick(self.contact_pool, 0.4)
        if ep in ("activitiesSms", "activitiesWap"):
            rec["sender"] = self.phone()
        elif ep != "activitiesWeb":
            rec["sender"] = str(rng.randrange(10**15, 10**16))
        if ep in self.external_contacts:
            rec["external_contact"] = self.pick(self.external_contacts[ep], 0.1)
        rec["answered"] = answered
        n_msg = rng.randrange(1, 30)
        rec["options"] = self.pick(
            [None, [], {"lastMessage": self.pick(MESSAGES), "messagesCount": n_msg, "language": "cs"}]
            + [{"lastMessage": self.pick(MESSAGES), "messagesCount": n_msg}] * 3
        )
        rec["duration"] = rng.randrange(1, 3600) if answered else 0
        rec["time"] = t
        rec["wait_time"] = rng.randrange(600)
        if ep != "activitiesWeb":
            rec["direction"] = rng.choice(["IN", "IN", "OUT", ""])
        disconnections = ["", "USER", "CLIENT", "TIMEOUT", "NOT_AVAIL", "OUT_OF_TIME", "DECISION_TREE"]
        rec["disconnection"] = rng.choice(disconnections + (["BAN"] if ep == "activitiesWeb" else []))
        rec["missed"] = "" if answered else rng.choice(["YES", "NO"])
        rec["missed_time"] = None if answered else t
        if ep == "activitiesIgdm":
            rec["type"] = rng.choice(["DM", "DM", "DM", "STORY_REPLY", "STORY_MENTION"])
        if ep == "activitiesWeb":
            rec["email"] = self.pick([None, f"{first.lower()}.{last.lower()}@example.cz"])
            rec["phone"] = self.pick([None, self.phone()])
            rec["context"] = self.pick(
                [[], [], {"url": "https://www.firma.cz/eshop/košík?krok=2", "title": "Košík \u2013 Firma.cz 🛒"}]
            )
        if ep == "activitiesWeb":
            rec |= self.web_visit(t, rec["user"], rec["duration"])
        rec["activities"] = [activity] if activity is not None else []
        rec["_sys"] = sys_(ep)
        rec["_rdata"] = None
        rec["_guiData"] = []
        return rec

    def web_visit(self, t: str, user: dict[str, Any] | None, duration: int) -> dict[str, Any]:
        """The visitor's side of a web chat (`Activities.Web.WebItem-2`): page, browser, consent, presence."""
        x = self.xrng
        mobile = x.random() < 0.35
        host = x.choice(WEB_HOSTS)
        path = x.choice(WEB_PATHS)
        first, last = FIRST_NAMES[x.randrange(len(FIRST_NAMES))], LAST_NAMES[x.randrange(len(LAST_NAMES))]
        customer = x.choice(
            [
                [],
                {"title": f"{first} {last}", "email": f"{first.lower()}@example.cz", "phone": None},
                {"title": first, "email": None, "phone": self.phone_x()},
            ]
        )
        heartbeat = fix_local(datetime.fromisoformat(t) + timedelta(seconds=duration + x.randrange(1, 120)))
        return {
            "host": host,
            "gdpr": x.random() < 0.7,
            "language": x.choice(["cs", "cs", "sk", "en", "de"]),
            "privateMode": x.random() < 0.1,
            "routing_duration": x.randrange(0, 90),
            "hasFocus": x.random() < 0.6,
            "customFields": [],
            "users": [user] if user is not None else [],
            "customer": customer,
            "referer": x.choice(["", "https://www.google.com/", f"https://{host}/", "https://www.seznam.cz/?q=čaj"]),
            "isVisible": x.random() < 0.8,
            "ipaddress": x.choice([f"185.{x.randrange(256)}.{x.randrange(256)}.{x.randrange(1, 255)}", "2a00:1028::7"]),
            "mobileDevice": mobile,
            "browser": x.choice(WEB_BROWSERS_MOBILE if mobile else WEB_BROWSERS),
            "heartbeat": fmt(heartbeat),
            "refererLast": f"https://{host}{path}",
        }

    def phone_x(self) -> str:
        x = self.xrng
        return f"+420 {x.randrange(600, 800)} {x.randrange(1000):03d} {x.randrange(1000):03d}"

    def _next(self) -> int:
        self._uniq += 1
        return self._uniq * 7919

    def make_activity(self, t: str, typ: str, name: str | None = None) -> dict[str, Any]:
        rng = self.rng
        ticket = self.pick(self.ticket_pool, 0.15)
        action = rng.choice(["CLOSE", "CLOSE", "OPEN", "WAIT", "POSTPONE", ""])
        qtype = {"CALL": "in", "EMAIL": "email", "CHAT": "chat", "WEB": "chat"}.get(typ) or _QTYPE.get(typ, "in")
        return {
            "name": name or self.uniqid("activities"),
            "ticket": ticket,
            "title": self.title(),
            "action": action,
            "type": typ,
            "item": None,
            "queue": self.queue_of(qtype) if typ else self.pick(self.queues, 0.5),
            "user": self.pick(self.users, 0.2),
            "contact": self.pick(self.contact_pool, 0.3),
            "survey": None,
            "record": None,
            "statuses": [self.pick(self.statuses)] if rng.random() < 0.3 else [],
            "priority": rng.randrange(3),
            "options": self.pick([None, [], {"source": "api", "tags": ["a", "b"]}]),
            "description": self.text(),
            "important": rng.random() < 0.05,
            "time": t,
            "time_wait": self.pick([None, t]),
            "time_open": self.pick([None, t]),
            "time_close": t if action == "CLOSE" else None,
            "baw": rng.randrange(30),
            "aaw": rng.randrange(120),
            "duration": rng.randrange(3600),
            "focus_time": rng.randrange(3600),
            "focus_disruptions": rng.randrange(5),
            "ringing_time": rng.randrange(30) if typ == "CALL" else 0,
            "created_by": self.pick(self.users, 0.3),
            "customFields": self.cf("activities", 0.6),
            "anonymized": False,
            "_sys": sys_("activities", self.pick([None, str(rng.randrange(10**6))])),
            "_rdata": None,
            "_guiData": [],
            "attachments": [self.make_attachment(t) for _ in range(rng.randrange(1, 3))] if rng.random() < 0.15 else [],
        }

    def make_attachment(self, t: str) -> dict[str, Any]:
        title, mime = self.pick(ATTACHMENT_FILES)
        return {
            "file": self.rng.randrange(1, 10**5),
            "inline": "0",
            "cid": "",
            "title": title,
            "type": mime,
            "size": self.rng.randrange(100, 5 * 10**6),
            "time": t,
            "_sys": sys_("activities\\Attachments"),
        }

    def nested_activity(self, act: dict[str, Any], item_id: int) -> dict[str, Any]:
        """The activity as embedded in a channel record: `item` is an int."""
        nested = dict(act)
        nested["item"] = item_id
        nested.pop("attachments", None)
        return nested

    def build_activities(self) -> None:
        s = self.sizes
        n_act = s.get("activities", 0)
        chans = [("activitiesCall", "CALL"), ("activitiesEmail", "EMAIL"), ("activitiesChat", "CHAT")]
        chans += [(ep, spec[0]) for ep, spec in CHANNELS.items()]
        self.build_channel_pools()
        n_chan = {ep: s.get(ep, 0) for ep, _ in chans}
        # how many activities point to a channel record: proportionally, keep >= 20% comments
        linked = {ep: min(n, int(n_act * 0.8 * n / max(1, sum(n_chan.values())))) for ep, n in n_chan.items()}
        n_comment = n_act - sum(linked.values())
        self.tables["activities"] = acts = []
        self.channel_items: dict[str, list[dict[str, Any]]] = {}
        for ep, typ in chans:
            n = n_chan[ep]
            times = [fmt(t) for t in self.times(n)]
            link = set(self.rng.sample(range(n), linked[ep])) if n else set()
            items = []
            maker = {"CALL": self.make_call, "EMAIL": self.make_email, "CHAT": self.make_chat}.get(typ)
            if maker is None:
                maker = lambda t, a, ep=ep: self.make_message(ep, t, a)  # noqa: E731
            for i, t in enumerate(times):
                act = None
                if i in link:
                    act = self.make_activity(t, typ)
                    acts.append(act)
                item = maker(t, self.nested_activity(act, 100000 + len(acts)) if act else None)
                if act is not None:
                    act["item"] = item
                items.append(item)
            self.tables[ep] = items
        for t in self.times(n_comment):
            acts.append(self.make_activity(fmt(t), self.rng.choice(["", "", "COMMENT", "CUSTOM"])))
        acts.sort(key=lambda a: a["time"])
