"""The models other records point to, the knowledge base, live agent sessions and call transcripts.

- Lookup tables: `ticketsSla`, `roles`, `profiles`, `crmRecordsTypes`, `databases` (campaign databases) are the
  pools whose records tickets' categories, accounts, users, CRM records and campaign records already embed (plus
  unreferenced extras when a scale asks for more); `crmDatabases` (contacts' and accounts' `database`) and
  `timegroups` (categories' `timecondition`) are built here before those records.
- The knowledge base (`articlesFolders` with `parent` folders, `articlesTags`, `articles` with `folder`, `tags`,
  `bookmarks`, `created`/`edited`), shaped like `Articles.*-2` of the OpenAPI document.
- `realtimeSessions` (`Dmr.Realtime.Session-2`): one record per logged-in agent, `id_agent` the whole user,
  `lastqueue` a queue, `id_pause` a pause while paused; times on the last day of the data.
- `activitiesCallTranscripts`: segments of answered calls that have an activity, as Daktela's own clients read
  them (`activity`, `start`, `end`, `text`, `type` customer/operator); `start`/`end` are times within the call.

Everything here draws from its own seeded stream (`nrng`), so adding it left the rest of the data as it was.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

MODEL_ENDPOINTS: tuple[str, ...] = (
    "ticketsSla",
    "crmDatabases",
    "databases",
    "crmRecordsTypes",
    "profiles",
    "roles",
    "timegroups",
    "articlesFolders",
    "articlesTags",
    "articles",
    "activitiesCallTranscripts",
    "realtimeSessions",
)
MODEL_PRIMARY_KEYS = {"realtimeSessions": "id_agent"}
MODEL_REPLICATION_KEYS = {"articles": "edited", "activitiesCallTranscripts": "start"}
# Records per scale. Lookup tables hold at least the records others embed; transcripts are spread over the answered
# calls that have an activity (none without such calls); sessions are at most one per active user.
_LOOKUPS = {"ticketsSla": 3, "crmDatabases": 2, "databases": 5, "crmRecordsTypes": 3, "profiles": 3, "roles": 3}
MODEL_SCALES: dict[str, dict[str, int]] = {
    "small": {
        **_LOOKUPS,
        "timegroups": 4,
        "articlesFolders": 6,
        "articlesTags": 8,
        "articles": 30,
        "activitiesCallTranscripts": 60,
        "realtimeSessions": 15,
    },
    "demo": {
        **_LOOKUPS,
        "databases": 8,
        "profiles": 5,
        "roles": 4,
        "ticketsSla": 4,
        "timegroups": 6,
        "articlesFolders": 12,
        "articlesTags": 15,
        "articles": 150,
        "activitiesCallTranscripts": 1200,
        "realtimeSessions": 25,
    },
    "bench": {
        "ticketsSla": 6,
        "crmDatabases": 3,
        "databases": 10,
        "crmRecordsTypes": 5,
        "profiles": 8,
        "roles": 6,
        "timegroups": 10,
        "articlesFolders": 30,
        "articlesTags": 40,
        "articles": 1000,
        "activitiesCallTranscripts": 15000,
        "realtimeSessions": 120,
    },
}
MODEL_SCALES["bench10"] = MODEL_SCALES["bench"] | {
    "articles": 10000,
    "activitiesCallTranscripts": 150000,
    "realtimeSessions": 1200,
}

TIMEGROUP_TITLES = [
    *("Pracovní doba", "Víkend", "Státní svátky 🇨🇿", "Noční směna", "Godziny pracy", "Léto \u2013 zkrácená"),
]
FOLDER_TITLES = ["Obecné", "Fakturace", "Technická podpora", "Reklamace", "Interní postupy", "FAQ \u2013 „časté“"]
TAG_TITLES = ["tarif", "internet", "faktura", "reklamace", "VIP", "postup", "návod", "🔥 důležité", "GDPR", "TV"]
ARTICLE_TITLES = [
    "Jak změnit tarif",
    "Postup při reklamaci zboží",
    "Fakturace: splatnost a upomínky",
    "Výpadek služby \u2013 co říct zákazníkovi",
    'Odpověď na dotaz "kde je moje zásilka"',
    "Ověření totožnosti volajícího (GDPR)",
    "Nastavení routeru krok za krokem 🛠️",
]
OPERATOR_LINES = [
    "Dobrý den, zákaznická linka, u telefonu Jana, jak vám mohu pomoci?",
    "Rozumím, podívám se na to. Můžete mi prosím sdělit číslo objednávky?",
    "Děkuji, ověřím to v systému, chvilku strpení.",
    "Zásilka je na cestě a dorazí zítra mezi 8:00 a 12:00.",
    "Je ještě něco, s čím vám mohu pomoci?",
    "Děkuji za zavolání, hezký den.",
]
CUSTOMER_LINES = [
    "Dobrý den, volám kvůli objednávce č. 12345.",
    "Ještě mi nepřišla a už je to týden 😞",
    "Číslo je CZ-123,456, mám ho tady na „faktuře“.",
    "Aha, dobře, a můžu si to vyzvednout i na pobočce?",
    "Ne, to je všechno, děkuji.",
    "Na shledanou.",
]


def _fmt(dt: datetime) -> str:
    return dt.isoformat(" ")


class ModelsMixin:
    """The `Generator`'s part for the endpoints above (see the module docstring)."""

    nrng: random.Random
    sizes: dict[str, int]
    tables: dict[str, list[dict[str, Any]]]
    enc: Any
    users: list[dict[str, Any]]
    queues: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    profiles: list[dict[str, Any]]
    slas: list[dict[str, Any]]
    crm_types: list[dict[str, Any]]
    camp_dbs: list[dict[str, Any]]
    camp_types: list[dict[str, Any]]
    _nuniq: int = 0

    # ---------------------------------------------------------------- helpers
    def nid(self, prefix: str) -> str:
        """A Daktela-like unique name (`prefix_<13 hex><9 digits>`) from the models' own stream."""
        self._nuniq += 1
        return f"{prefix}_{0x65A1B2C3D4E5F + self._nuniq * 7727:013x}{self.nrng.randrange(10**9):09d}"

    def npick(self, seq: list[Any], p_none: float = 0.0) -> Any:
        if not seq or (p_none and self.nrng.random() < p_none):
            return None
        return seq[self.nrng.randrange(len(seq))]

    def ntime(self, start: datetime, end: datetime) -> str:
        from .data import fix_local

        return _fmt(fix_local(start + timedelta(seconds=self.nrng.randrange(int((end - start).total_seconds())))))

    def active_users(self) -> list[dict[str, Any]]:
        return [u for u in self.users if not u["deactivated"]] or self.users

    # ------------------------------------------------------ before the records
    def build_model_pools(self) -> None:
        """CRM databases and time groups, which records built later embed (run before categories and accounts)."""
        from .data import sys_

        self.crm_dbs = [self.crm_db]  # type: ignore[attr-defined]
        for i in range(1, max(1, self.sizes.get("crmDatabases", 2))):
            db = {
                "name": self.nid("crmdb"),
                "title": ["B2B zákazníci", "Archiv 2019", "Partneři"][i % 3],
                "description": self.npick(["", None, "Firemní kontakty; „VIP“"]),
                "available_cp": i % 2 == 0,
                "autofocused_contacts_tab": "",
                "autofocused_accounts_tab": self.npick(["", "tickets"]),
                "default": False,
                "contactsCFScheme": None,
                "reverse_names": i % 3 == 0,
                "_sys": sys_("crmDatabases"),
                "_rdata": None,
                "_guiData": [],
            }
            self.crm_dbs.append(self.enc.share(db))
        count = max(1, self.sizes.get("timegroups", 4))
        self.timegroups = [self.enc.share(self.make_timegroup(i)) for i in range(count)]

    def make_timegroup(self, i: int) -> dict[str, Any]:
        from .data import sys_

        return {
            "name": self.nid("timegroups"),
            "title": TIMEGROUP_TITLES[i % len(TIMEGROUP_TITLES)] + (f" {i}" if i >= len(TIMEGROUP_TITLES) else ""),
            "description": self.npick(["", None, "Po\u2013Pá 8:00\u201317:00, mimo svátky"]),
            "crons": [] if i % 2 else [{"days": "1-5", "from": "08:00", "to": "17:00"}],
            "groups": [],
            "_sys": sys_("timegroups"),
            "_rdata": None,
            "_guiData": [],
        }

    def crm_database(self) -> dict[str, Any]:
        """The CRM database of a new account: mostly the default one."""
        return self.crm_dbs[0] if self.nrng.random() < 0.7 else self.npick(self.crm_dbs)

    # ------------------------------------------------------- after the records
    def build_models(self) -> None:
        s = self.sizes
        self.tables["ticketsSla"] = self._lookup(self.slas, s.get("ticketsSla", 0), self.make_sla)
        self.tables["roles"] = self._lookup(self.roles, s.get("roles", 0), self.make_role)
        self.tables["profiles"] = self._lookup(self.profiles, s.get("profiles", 0), self.make_profile)
        self.tables["crmRecordsTypes"] = self._lookup(self.crm_types, s.get("crmRecordsTypes", 0), self.make_crm_type)
        self.tables["databases"] = self._lookup(self.camp_dbs, s.get("databases", 0), self.make_campaign_database)
        self.tables["crmDatabases"] = list(self.crm_dbs)
        self.tables["timegroups"] = list(self.timegroups)
        self.folders: list[dict[str, Any]] = []
        for i in range(s.get("articlesFolders", 0)):
            self.folders.append(self.enc.share(self.make_article_folder(i)))
        self.tables["articlesFolders"] = list(self.folders)
        self.tags = [self.enc.share(self.make_article_tag(i)) for i in range(s.get("articlesTags", 0))]
        self.tables["articlesTags"] = list(self.tags)
        from .data import DATA_END, DATA_START

        n = s.get("articles", 0)
        created = sorted(self.ntime(DATA_START, DATA_END) for _ in range(n))
        self.tables["articles"] = [self.make_article(c, self._edited(c)) for c in created]
        self.tables["realtimeSessions"] = self.make_sessions(s.get("realtimeSessions", 0))
        self.tables["activitiesCallTranscripts"] = self.make_transcripts(s.get("activitiesCallTranscripts", 0))

    def _lookup(self, pool: list[dict[str, Any]], size: int, make: Any) -> list[dict[str, Any]]:
        return [*pool, *(make(len(pool) + i) for i in range(max(0, size - len(pool))))]

    def _edited(self, created: str) -> str:
        from .data import DATA_END, fix_local

        if self.nrng.random() < 0.3:
            return created
        moved = datetime.fromisoformat(created) + timedelta(seconds=int(self.nrng.expovariate(1 / 2_000_000)))
        return _fmt(fix_local(min(moved, DATA_END)))

    def make_sla(self, i: int) -> dict[str, Any]:
        from .data import sys_

        unit = "HOURS" if i % 2 else "MINUTES"
        return {
            "name": self.nid("sla"),
            "title": f"SLA {i} ({unit.lower()})",
            "unit": unit,
            **{f"response_{p}": 2 * (3 - k) for k, p in enumerate(("low", "normal", "high"))},
            **{f"solution_{p}": 24 * (3 - k) for k, p in enumerate(("low", "normal", "high"))},
            "_sys": sys_("ticketsSla"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_role(self, i: int) -> dict[str, Any]:
        from .data import sys_

        return {
            "name": self.nid("role"),
            "title": f"Role {i}: Supervizor",
            "description": self.npick(["", None, "Vidí reporty celé skupiny"]),
            "shortcuts": [],
            "gpt_custom_prompts": [],
            "options": {"tickets": self.nrng.choice([0, 1, 2, 15]), "reports": 15, "_setDependencies": True},
            "type": "CC" if i % 3 else "BO",
            "_sys": sys_("roles"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_profile(self, i: int) -> dict[str, Any]:
        from .data import sys_

        return {
            "name": self.nid("profile"),
            "title": f"Profil {i}",
            "description": "",
            "type": "CC" if i % 3 else "BO",
            "maxActivities": self.npick([None, 3, 5]),
            "maxOutRecords": 1,
            "deleteMissedActivity": i % 2 == 0,
            "noQueueCallsAllowed": False,
            "canTransferCall": ["none", "only assisted transfer", "only blind transfer", "blind and assisted transfer"][
                i % 4
            ],
            "monitoringModes": [1, 3, 7, 15][i % 4],
            "gptFunctions": i % 4,
            "askForAssistance": True,
            "options": {"dashboard": "activities", "sounds": i % 2 == 1},
            "customViews": [],
            "customSocialMediaViews": [],
            "oneTimePassword": False,
            "passwordReset": True,
            "_sys": sys_("profiles"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_crm_type(self, i: int) -> dict[str, Any]:
        from .data import sys_

        return {
            "name": f"crmtype_{i}_{self.nrng.randrange(10**6)}",
            "title": ["Reklamace", "Servisní zakázka", "Lead"][i % 3] + f" {i}",
            "description": "",
            "autofocused_tab": self.npick(["", "activities"]),
            "created": self.ntime(datetime(2023, 1, 1), datetime(2024, 1, 1)),
            "_sys": sys_("crmRecordsTypes"),
        }

    def make_campaign_database(self, i: int) -> dict[str, Any]:
        from .data import sys_

        return {
            "name": f"campaignsDatabases_{i}_{self.nrng.randrange(10**6)}",
            "title": f"Databáze {i} (rezerva)",
            "description": None,
            "record_type": self.npick(self.camp_types),
            "stage": self.nrng.choice(["OPEN", "CLOSE"]),
            "priority": i,
            "mixing_ratio": 1,
            "_sys": sys_("databases"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_article_folder(self, i: int) -> dict[str, Any]:
        from .data import sys_

        created = self.ntime(datetime(2023, 1, 1), datetime(2024, 1, 1))
        return {
            "name": self.nid("folder"),
            "title": FOLDER_TITLES[i % len(FOLDER_TITLES)] + (f" {i}" if i >= len(FOLDER_TITLES) else ""),
            "index": str(i),
            "created": created,
            "created_by": self.npick(self.active_users()),
            "edited": created,
            "edited_by": self.npick(self.active_users()),
            "parent": self.npick(self.folders[:3]) if i >= 3 else None,
            "config": self.npick([[], {"color": "#0055aa"}]),
            "_sys": sys_("articlesFolders"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_article_tag(self, i: int) -> dict[str, Any]:
        from .data import sys_

        created = self.ntime(datetime(2023, 1, 1), datetime(2024, 6, 1))
        return {
            "name": self.nid("tag"),
            "title": TAG_TITLES[i % len(TAG_TITLES)] + (f" {i}" if i >= len(TAG_TITLES) else ""),
            "created": created,
            "created_by": self.npick(self.active_users()),
            "edited": created,
            "edited_by": self.npick(self.active_users()),
            "_sys": sys_("articlesTags"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_article(self, created: str, edited: str) -> dict[str, Any]:
        from .data import HTML_TEXTS, sys_

        rng = self.nrng
        users = self.active_users()
        return {
            "name": self.nid("article"),
            "title": self.npick(ARTICLE_TITLES),
            "description": self.npick(["", None, "Krátký návod pro operátory; „interní“"]),
            "content": self.npick(HTML_TEXTS),
            "published": rng.random() < 0.8,
            "seen_count": rng.randrange(500),
            "created": created,
            "created_by": self.npick(users),
            "edited": edited,
            "edited_by": self.npick(users),
            "folder": self.npick(self.folders),
            "tags": rng.sample(self.tags, min(len(self.tags), rng.randrange(4))),
            "bookmarks": rng.sample(users, min(len(users), rng.choice([0, 0, 1, 2]))),
            "_sys": sys_("articles"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_sessions(self, n: int) -> list[dict[str, Any]]:
        agents = [u for u in self.active_users() if u["type"] in ("CC", "CP")] or self.active_users()
        return [self.make_session(user) for user in self.nrng.sample(agents, min(n, len(agents)))]

    def make_session(self, user: dict[str, Any]) -> dict[str, Any]:
        from .data import sys_

        rng = self.nrng
        day = datetime(2025, 6, 30, 7, 0, 0)
        login = day + timedelta(seconds=rng.randrange(3600))
        state = rng.choice(["Session", "Idle", "Idle", "Paused"])
        since = login + timedelta(seconds=rng.randrange(3600, 5 * 3600))
        pauses = self.tables.get("pauses") or []
        paused = state == "Paused" and bool(pauses)
        called = rng.random() < 0.8
        return {
            "id_agent": user,
            "state": state,
            "exten": user.get("extension"),
            "logintime": _fmt(login),
            "lastcalltime": _fmt(since - timedelta(seconds=rng.randrange(1, 1800))) if called else None,
            "lastqueue": self.npick(self.queues, 0.2) if called else None,
            "id_pause": self.npick(pauses) if paused else None,
            "onpause": _fmt(since) if paused else None,
            "statetime": _fmt(since),
            "id_call": f"{rng.getrandbits(40):010x}.{rng.randrange(9999)}" if state == "Session" else None,
            "unwrap": None,
            "exten_status": {"Session": "Busy", "Idle": "Idle"}.get(state, "Unavailable"),
            "presence_status": rng.choice(["Idle", "Busy", ""]),
            "_sys": sys_("realtimeSessions"),
            "_rdata": None,
            "_guiData": [],
        }

    def make_transcripts(self, n: int) -> list[dict[str, Any]]:
        """`n` segments, spread evenly over the answered calls that have an activity, in call order."""
        calls = [
            act["item"]
            for act in self.tables.get("activities", [])
            if act.get("type") == "CALL" and isinstance(act.get("item"), dict) and act["item"].get("answered")
        ]
        out: list[dict[str, Any]] = []
        for i, call in enumerate(calls):
            count = n // len(calls) + (1 if i < n % len(calls) else 0)
            if count:
                out += self.call_transcript(call, count)
        return out

    def call_transcript(self, call: dict[str, Any], segments: int) -> list[dict[str, Any]]:
        """`segments` alternating operator/customer segments from the call's start."""
        from .data import fix_local, sys_

        nested = call["activities"][0] if call.get("activities") else None
        if nested is not None and id(nested) not in self.enc.cache:
            self.enc.share(nested, self.enc.encode(nested))
        at = datetime.fromisoformat(call["call_time"])
        out = []
        for i in range(segments):
            speaker = "operator" if i % 2 == 0 else "customer"
            lines = OPERATOR_LINES if speaker == "operator" else CUSTOMER_LINES
            start = fix_local(at + timedelta(seconds=self.nrng.randrange(1, 4)))
            at = fix_local(start + timedelta(seconds=self.nrng.randrange(2, 20)))
            out.append(
                {
                    "name": self.nid("transcript"),
                    "activity": nested,
                    "start": _fmt(start),
                    "end": _fmt(at),
                    "text": lines[min(i // 2, len(lines) - 1)],
                    "type": speaker,
                    "_sys": sys_("activitiesCallTranscripts"),
                }
            )
        return out

    def new_transcript(self, now: str) -> dict[str, Any]:
        """One segment for a call that just happened (an insert): the call started a minute ago, so the segment
        (a few seconds into it) is already in the past, as a transcript of a finished call is."""
        calls = [a["item"] for a in self.tables.get("activities", []) if a.get("type") == "CALL" and a.get("item")]
        started = _fmt(datetime.fromisoformat(now) - timedelta(seconds=60))
        call = dict(self.npick(calls) or {"call_time": started, "activities": []}, call_time=started)
        return self.call_transcript(call, 1)[0]
