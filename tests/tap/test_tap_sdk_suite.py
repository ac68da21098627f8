"""The singer-sdk standard tap tests, for every stream, against a simulator started for this module.

The SDK builds the test class from a config at import time, so the simulator's port is chosen then; the server
itself starts only when the module's tests run (and stops after them).
"""

from __future__ import annotations

import socket

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_daktela.tap import TapDaktela
from tests.conftest import PASSWORD, USERNAME
from tests.simulator import DaktelaSimulator


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PORT = _free_port()
SIMULATOR = DaktelaSimulator(seed=21, scale="small", port=PORT)


@pytest.fixture(scope="module", autouse=True)
def _simulator():
    SIMULATOR.start()
    yield
    SIMULATOR.stop()


TestTapDaktela = get_tap_test_class(
    TapDaktela,
    config={"url": f"http://127.0.0.1:{PORT}", "username": USERNAME, "password": PASSWORD, "page_size": 20},
    suite_config=SuiteConfig(),
)
