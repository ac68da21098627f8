"""What a stream and live discovery use of the run they belong to, stated once.

The tap (`tap.TapDaktela`) is the one implementation: it owns the run's connection (session, token, instance time
zone), its settings and what it learns of the instance. Streams and discovery are written against this protocol,
so neither imports the tap module (which imports them): the import graph has no cycle.
"""

from __future__ import annotations

import logging
import threading
import typing as t

if t.TYPE_CHECKING:
    import pendulum
    import requests

    from tap_daktela.auth import TokenProvider
    from tap_daktela.instance_facts import InstanceFacts
    from tap_daktela.run_summary import RunSummary


class DaktelaRun(t.Protocol):
    """One run of the tap: its connection, its settings, and what it has learned of the instance so far."""

    config: t.Mapping[str, t.Any]
    logger: logging.Logger
    learned_facts: dict[str, InstanceFacts]  # stream -> what live discovery learned this run

    # the connection: one HTTP session, one token, the instance's zone of naive datetimes
    @property
    def http_session(self) -> requests.Session: ...

    @property
    def token_provider(self) -> TokenProvider: ...

    @property
    def timezone(self) -> str: ...

    # settings, parsed
    @property
    def page_size(self) -> int: ...

    @property
    def start_date(self) -> pendulum.DateTime | None: ...

    @property
    def end_date(self) -> pendulum.DateTime | None: ...

    # shared by the run's streams
    @property
    def request_slots(self) -> threading.BoundedSemaphore: ...

    @property
    def run_summary(self) -> RunSummary: ...

    def prefetch_next(self) -> None: ...

    def dotted_fields_honoured(self, kinds: t.Iterable[str], known: t.Mapping[str, bool]) -> frozenset[str]: ...

    def dotted_fields_answered(
        self, answers: t.Mapping[str, bool | None], missing: t.Iterable[str] = ()
    ) -> dict[str, bool]: ...
