"""Writing Singer messages: orjson, block-buffered stdout, optional flat records for CSV targets."""

from __future__ import annotations

import sys
import typing as t

import orjson
from singer_sdk.singerlib import SchemaMessage, StateMessage
from singer_sdk.singerlib.encoding.base import GenericSingerWriter

from tap_daktela.flattening import as_text_schema, flatten_schema
from tap_daktela.interrupts import whole_message


class DaktelaWriter(GenericSingerWriter[bytes, t.Any]):
    """Serialises with orjson and flushes only with STATE messages and at exit (a flush per record costs a
    system call each). With `flatten` on, SCHEMA messages declare the flat columns that the streams' records
    already have (see `flattening`)."""

    def __init__(self) -> None:
        self.flatten = False
        self._out: t.Any = None  # stdout, looked up at the first message (a tap built in-process may never write)

    def serialize_message(self, message: t.Any) -> bytes:
        return orjson.dumps(message.to_dict(), option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)

    def write_message(self, message: t.Any) -> None:
        if self.flatten:
            message = self._flattened(message)
        if self._out is None:
            self._out = sys.stdout.buffer
        line = self.serialize_message(message)
        with whole_message():  # a SIGTERM never leaves half a line for the target
            self._out.write(line)
            if isinstance(message, StateMessage):
                self._out.flush()

    def flush(self) -> None:
        if self._out is not None:
            with whole_message():
                self._out.flush()

    def _flattened(self, message: t.Any) -> t.Any:
        if isinstance(message, SchemaMessage):
            return SchemaMessage(
                stream=message.stream,
                schema=as_text_schema(flatten_schema(message.schema)),
                key_properties=message.key_properties,
                bookmark_properties=message.bookmark_properties,
            )
        return message
