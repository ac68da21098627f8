"""The singer-sdk standard tap tests, for every stream, against a simulator started for this module."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_daktela.tap import TapDaktela
from tests.conftest import PASSWORD, USERNAME
from tests.simulator import DaktelaSimulator

SIMULATOR = DaktelaSimulator(seed=21, scale="small")
SIMULATOR.start()


@pytest.fixture(scope="module", autouse=True)
def _stop_simulator():
    yield
    SIMULATOR.stop()


TestTapDaktela = get_tap_test_class(
    TapDaktela,
    config={"url": SIMULATOR.url, "username": USERNAME, "password": PASSWORD, "page_size": 20},
    suite_config=SuiteConfig(),
)
