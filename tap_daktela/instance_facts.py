"""What a stream knows about the instance between runs, so that a nightly run pays only for the data.

Two facts about an instance do not change within a day: the fields its records carry (top-level ones and custom
fields, `customFields.<name>`), and which kinds of dotted `fields[]` it honours. A run learns them from live
discovery's sample, from one whole record read before data that are asked for with `fields[]` (the only way to see
a field the catalog lacks), and from the data themselves (dotted answers, fields no schema declares). They are
kept in the stream's own Singer state entry (`bookmarks.<stream>.instance`) with the time they were learned, so
they travel with the bookmark through any orchestrator (Meltano, the Keboola component), and are learned again
once they are older than `MAX_AGE`.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tap_daktela.shaping import CUSTOM_FIELDS, DROPPED_KEYS

STATE_KEY = "instance"
MAX_AGE = timedelta(days=1)


def now() -> datetime:
    return datetime.now(UTC)


def fields_of(records: t.Iterable[dict]) -> set[str]:
    """The fields whole records carry: top-level names (not Daktela's internals) and `customFields.<name>`."""
    names: set[str] = set()
    for record in records:
        names.update(name for name in record if name not in DROPPED_KEYS)
        custom = record.get(CUSTOM_FIELDS)
        if isinstance(custom, dict):
            names.update(f"{CUSTOM_FIELDS}.{name}" for name in custom)
    return names


def skeleton(names: t.Iterable[str]) -> dict:
    """A record carrying `names` (null values): what a record with those fields shows a `RecordShaper`."""
    record: dict[str, t.Any] = {}
    for name in names:
        parent, _, child = name.partition(".")
        if child and parent == CUSTOM_FIELDS:
            custom = record.get(CUSTOM_FIELDS)
            record[CUSTOM_FIELDS] = {**(custom if isinstance(custom, dict) else {}), child: None}
        else:
            record.setdefault(name, None)
    return record


@dataclass
class InstanceFacts:
    """One stream's facts: `fields` (None: not learned) and `dotted` (kind -> honoured), learned at `learned`."""

    learned: datetime = field(default_factory=now)
    fields: set[str] | None = None
    dotted: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def from_state(cls, entry: t.Any) -> InstanceFacts | None:
        """The facts a stream's state entry keeps; None when there are none or they cannot be read."""
        facts = entry.get(STATE_KEY) if isinstance(entry, dict) else None
        if not isinstance(facts, dict):
            return None
        try:
            learned = datetime.fromisoformat(str(facts["learned"]))
        except (KeyError, ValueError):
            return None
        if learned.tzinfo is None:
            learned = learned.replace(tzinfo=UTC)
        names = facts.get("fields")
        dotted = facts.get("dotted")
        return cls(
            learned=learned,
            fields={str(name) for name in names} if isinstance(names, list) else None,
            dotted={str(k): v for k, v in dotted.items() if isinstance(v, bool)} if isinstance(dotted, dict) else {},
        )

    def to_state(self) -> dict[str, t.Any]:
        facts: dict[str, t.Any] = {"learned": self.learned.isoformat(timespec="seconds")}
        if self.fields is not None:
            facts["fields"] = sorted(self.fields)
        if self.dotted:
            facts["dotted"] = dict(sorted(self.dotted.items()))
        return facts

    def fresh(self, at: datetime | None = None) -> bool:
        """Learned less than `MAX_AGE` ago (a time in the future, from a clock set wrong, is not fresh)."""
        age = (at or now()) - self.learned
        return timedelta(0) <= age < MAX_AGE


def with_facts(state: dict | None, stream: str, learned: InstanceFacts | None) -> dict | None:
    """A stream's Singer state plus what a discovery in the caller's own process has just learned of the instance
    (the Keboola component discovers, then runs one tap per stream): that tap then learns nothing again. Dotted
    answers the state kept stay while fresh."""
    if learned is None:
        return state
    bookmarks = dict((state or {}).get("bookmarks") or {})
    entry = dict(bookmarks.get(stream) or {})
    kept = InstanceFacts.from_state(entry)
    dotted = {**(kept.dotted if kept is not None and kept.fresh() else {}), **learned.dotted}
    entry[STATE_KEY] = InstanceFacts(learned.learned, set(learned.fields or ()), dotted).to_state()
    return {**(state or {}), "bookmarks": {**bookmarks, stream: entry}}
