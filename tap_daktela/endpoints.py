"""The one table of Daktela endpoints that drives every stream, the wrapper and the docs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """How one Daktela list endpoint is read.

    `windowed` marks the streams to which the Keboola wrapper applies `date_from`/`date_to`;
    `created_key` marks replication keys that hold a creation time (records change later without
    moving the key), which is why those streams re-read a lookback window before the bookmark.
    `channel` marks messaging channels that an instance may not have licensed: such an instance answers
    404 for the endpoint, which the tap reads as an empty stream (with a warning) rather than a failure.
    """

    name: str
    primary_key: str = "name"
    replication_key: str | None = None
    windowed: bool = False
    created_key: bool = False
    channel: bool = False
    description: str = ""


def _channel(name: str, description: str) -> Endpoint:
    """A messaging-channel activity table: keyed by `name`, read by its creation `time` in date windows."""
    return Endpoint(
        name, replication_key="time", windowed=True, created_key=True, channel=True, description=description
    )


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
    _channel("activitiesChat", "Web chats (legacy model)"),
    Endpoint("activitiesEmail", replication_key="time", windowed=True, created_key=True, description="E-mails"),
    _channel("activitiesFbm", "Facebook Messenger conversations"),
    _channel("activitiesIgdm", "Instagram direct messages"),
    _channel("activitiesSms", "SMS conversations"),
    _channel("activitiesVbr", "Viber conversations"),
    _channel("activitiesWap", "WhatsApp conversations"),
    _channel("activitiesWeb", "Web chats (current model)"),
    Endpoint("campaignsRecords", replication_key="edited", description="Campaign (dialer) records"),
    Endpoint("campaignsTypes", description="Campaign types (call scripts of campaign records)"),
    Endpoint("contacts", replication_key="edited", windowed=True, description="CRM contacts"),
    Endpoint("crmRecords", replication_key="edited", description="CRM records"),
    Endpoint("groups", description="Groups"),
    Endpoint("pauses", description="Pause types"),
    Endpoint("queues", description="Queues"),
    Endpoint("statuses", description="Statuses"),
    Endpoint("templates", description="Templates"),
    Endpoint("tickets", replication_key="edited", windowed=True, description="Tickets"),
    Endpoint("ticketsCategories", description="Ticket categories"),
    Endpoint("users", description="Users"),
)

ENDPOINTS_BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}
