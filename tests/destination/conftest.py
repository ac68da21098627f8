"""The PostgreSQL server of the destination tests: one per session, started on first use, stopped at the end."""

from __future__ import annotations

import itertools

import pytest

from tests.destination.postgres import PostgresServer

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres():
    with PostgresServer() as server:
        yield server


@pytest.fixture
def database(postgres) -> str:
    """A fresh, empty database of the session's server; its name."""
    name = f"daktela_{next(_databases)}"
    postgres.create_database(name)
    return name
