"""The one table of Daktela endpoints that drives every stream, the wrapper and the docs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SNAPSHOT_TIME = "snapshot_time"  # the column a snapshot stream adds to every record: when the snapshot was taken


@dataclass(frozen=True)
class Endpoint:
    """How one Daktela list endpoint is read.

    `windowed` marks the streams to which the Keboola wrapper applies `date_from`/`date_to`;
    `created_key` marks replication keys that hold a creation time (records change later without
    moving the key), which is why those streams re-read a lookback window before the bookmark.
    `optional` marks models an instance may not have: a messaging channel that is not set up, or a module that
    is not licensed (knowledge base, speech-to-text, ...). Such an instance answers 404 for the endpoint, which
    the tap reads as an empty stream (with a warning) rather than a failure; a 403 (no rights) stays an error.
    `snapshot` marks a list of current state (live agent sessions) that has neither a stable record name nor an
    edited time: every record of a run carries the same `snapshot_time`, and the stream is read whole every run.
    """

    name: str
    primary_key: str = "name"
    replication_key: str | None = None
    windowed: bool = False
    created_key: bool = False
    optional: bool = False
    snapshot: bool = False
    description: str = ""

    @property
    def full_table(self) -> bool:
        """Read whole every run, so a destination should replace the table (no replication key, or a snapshot)."""
        return self.replication_key is None or self.snapshot

    def replaces_table(self, primary_key: Sequence[str] = ()) -> bool:
        """Whether a destination loading this stream under `primary_key` (the table's, default the stream's)
        should replace its table: a full table does, except a snapshot keyed by its snapshot time too, whose rows
        then append one snapshot per run to a history."""
        return self.full_table and not (self.snapshot and SNAPSHOT_TIME in primary_key)

    @property
    def added_properties(self) -> tuple[str, ...]:
        """Properties the tap adds to every record itself (never asked of Daktela, always emitted)."""
        return (SNAPSHOT_TIME,) if self.snapshot else ()


def _channel(name: str, description: str) -> Endpoint:
    """A messaging-channel activity table: keyed by `name`, read by its creation `time` in date windows."""
    return Endpoint(
        name, replication_key="time", windowed=True, created_key=True, optional=True, description=description
    )


def _reference(name: str, description: str) -> Endpoint:
    """A full table of a model that other records point to, which older or smaller instances may lack."""
    return Endpoint(name, optional=True, description=description)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("accounts", replication_key="edited", description="CRM accounts (companies)"),
    Endpoint("activities", replication_key="time", windowed=True, created_key=True, description="All activities"),
    Endpoint(
        "activitiesCall",
        primary_key="id_call",
        replication_key="call_time",
        windowed=True,
        created_key=True,
        description="Call records",
    ),
    Endpoint(
        "activitiesCallTranscripts",
        replication_key="start",
        windowed=True,
        created_key=True,
        optional=True,
        description="Speech-to-text of calls: one row per speaker's segment (`activity`, `start`, `end`, `text`)",
    ),
    _channel("activitiesChat", "Web chats (legacy model)"),
    Endpoint("activitiesEmail", replication_key="time", windowed=True, created_key=True, description="E-mails"),
    _channel("activitiesFbm", "Facebook Messenger conversations"),
    _channel("activitiesIgdm", "Instagram direct messages"),
    _channel("activitiesSms", "SMS conversations"),
    _channel("activitiesVbr", "Viber conversations"),
    _channel("activitiesWap", "WhatsApp conversations"),
    _channel("activitiesWeb", "Web chats (current model)"),
    Endpoint("articles", replication_key="edited", optional=True, description="Knowledge base articles"),
    _reference("articlesFolders", "Knowledge base folders"),
    _reference("articlesTags", "Knowledge base tags"),
    Endpoint("campaignsRecords", replication_key="edited", description="Campaign (dialer) records"),
    Endpoint("campaignsTypes", description="Campaign types (call scripts of campaign records)"),
    Endpoint("contacts", replication_key="edited", windowed=True, description="CRM contacts"),
    _reference("crmDatabases", "CRM databases (of contacts and accounts)"),
    Endpoint("crmRecords", replication_key="edited", description="CRM records"),
    _reference("crmRecordsTypes", "CRM record types"),
    _reference("databases", "Campaign databases (of campaign records)"),
    Endpoint("groups", description="Groups"),
    Endpoint("pauses", description="Pause types"),
    _reference("profiles", "User profiles (what a user may do)"),
    Endpoint("queues", description="Queues"),
    Endpoint(
        "realtimeSessions",
        primary_key="id_agent",
        optional=True,
        snapshot=True,
        description="Live agent state (logged-in agents: state, pause, last queue), a snapshot per run",
    ),
    _reference("roles", "User roles (rights)"),
    Endpoint("statuses", description="Statuses"),
    Endpoint("templates", description="Templates"),
    Endpoint("tickets", replication_key="edited", windowed=True, description="Tickets"),
    Endpoint("ticketsCategories", description="Ticket categories"),
    _reference("ticketsSla", "Ticket SLAs (of categories and accounts)"),
    _reference("timegroups", "Time groups (time conditions of categories and queues)"),
    Endpoint("users", description="Users"),
)

ENDPOINTS_BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}
