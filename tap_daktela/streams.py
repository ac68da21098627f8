"""One stream class per row of the endpoint table; nothing here is written per endpoint by hand."""

from __future__ import annotations

from tap_daktela.client import DaktelaStream
from tap_daktela.endpoints import ENDPOINTS, Endpoint
from tap_daktela.schemas import load_schema


def stream_class(endpoint: Endpoint) -> type[DaktelaStream]:
    return type(
        f"{endpoint.name[0].upper()}{endpoint.name[1:]}Stream",
        (DaktelaStream,),
        {
            "__doc__": f"{endpoint.description} (`/api/v6/{endpoint.name}.json`).",
            "endpoint": endpoint,
            "name": endpoint.name,
            "primary_keys": (endpoint.primary_key,),
            "replication_key": endpoint.replication_key,
            "static_schema": load_schema(endpoint.name),
        },
    )


STREAM_TYPES: tuple[type[DaktelaStream], ...] = tuple(stream_class(endpoint) for endpoint in ENDPOINTS)
