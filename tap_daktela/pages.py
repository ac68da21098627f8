"""Decoding Daktela list responses: the envelope now, each record only when it is emitted.

A list answer is `{"error": [], "result": {"data": [...], "total": N}, ...}`; `data` may also be an object keyed
by record name and `total` a numeric string. Records stay raw JSON slices until their turn (a page of expanded
activities is ~17 MB of JSON but ~75 MB as Python objects); waiting bodies spill to a temporary file.
"""

from __future__ import annotations

import tempfile
import typing as t

import msgspec
import orjson
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_daktela.errors import DaktelaAPIError
from tap_daktela.paging import Page
from tap_daktela.snapshots import key_value  # a key sent as a whole record sorts by its name

BODY_IN_MEMORY = 2 * 1024 * 1024  # bytes of a waiting body kept in memory before it spills to a temp file


def error_text(body: bytes) -> str:
    """The `error` part of a Daktela error body, as one short line."""
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    if isinstance(error, list):
        text = "; ".join(str(item) for item in error)
    elif isinstance(error, dict):
        text = orjson.dumps(error).decode()
    else:
        text = str(error or "")
    return " ".join(text.split())[:300]


class _ListResult(msgspec.Struct):
    data: list[msgspec.Raw] | dict[str, msgspec.Raw]
    total: int | str


class _ListEnvelope(msgspec.Struct):
    result: _ListResult | None = None


_ENVELOPE = msgspec.json.Decoder(_ListEnvelope)


def _is_count(value: t.Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.strip().isdigit()


def decode_list(content: bytes, endpoint: str) -> Page:
    """The page's raw records and `total`; a body cut short is retriable, an unknown envelope is not."""
    try:
        envelope = _ENVELOPE.decode(content)
    except msgspec.ValidationError:
        envelope = None
    except msgspec.DecodeError as exc:
        raise RetriableAPIError(f"endpoint '{endpoint}' returned malformed JSON ({exc})") from exc
    result = envelope.result if envelope is not None else None
    if result is None or not _is_count(result.total):
        raise DaktelaAPIError(
            f"endpoint '{endpoint}' returned an unknown envelope (expected result.data and result.total)"
        )
    raws = list(result.data.values()) if isinstance(result.data, dict) else result.data
    return Page(raws=raws, total=int(result.total))


class RecordDecoder:
    """Reads raw records: only their sort key while paging, the whole record when it is emitted."""

    def __init__(self, key_fields: tuple[str, ...]) -> None:
        self.key_fields = key_fields
        key_type = msgspec.defstruct("RecordKey", [(field, t.Any, None) for field in key_fields])
        self._key_decoder = msgspec.json.Decoder(key_type)

    def key(self, raw: msgspec.Raw) -> tuple[t.Any, ...]:
        decoded = self._key_decoder.decode(raw)
        return tuple(key_value(getattr(decoded, field)) for field in self.key_fields)

    def record(self, raw: msgspec.Raw) -> dict:
        return orjson.loads(memoryview(raw))


class SpooledBody:
    """A fetched list body waiting for its turn: in memory up to `BODY_IN_MEMORY`, in a temp file beyond.

    `decode` turns it into a `Page`; a body that does not decode (cut short, say) is fetched again through
    `refetch`, with the usual retries.
    """

    def __init__(
        self, response: requests.Response, decode: t.Callable[[bytes], Page], refetch: t.Callable[[], Page]
    ) -> None:
        self._decode = decode
        self._refetch = refetch
        self.body = tempfile.SpooledTemporaryFile(max_size=BODY_IN_MEMORY)  # noqa: SIM115
        for chunk in response.iter_content(chunk_size=1024 * 1024):
            self.body.write(chunk)

    def content(self) -> bytes:
        self.body.seek(0)
        content = self.body.read()
        self.body.close()
        return content

    def load(self) -> Page:
        try:
            return self._decode(self.content())
        except RetriableAPIError:
            return self._refetch()
