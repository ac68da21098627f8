"""Local Daktela REST API v6 simulator for tests and benchmarks.

Usage: ``with DaktelaSimulator(seed=1, scale="small") as sim: ...`` then use ``sim.url``, ``sim.knobs``,
``sim.counters`` and ``sim.records("tickets")``. See ``tests/simulator/README.md``.
"""

from .data import CF_MODELS, CF_SCHEME_MODELS, CHANNELS, ENDPOINTS, PRIMARY_KEYS, REPLICATION_KEYS, SCALES
from .server import Counters, DaktelaSimulator, Knobs

__all__ = [
    "CF_MODELS",
    "CF_SCHEME_MODELS",
    "CHANNELS",
    "ENDPOINTS",
    "PRIMARY_KEYS",
    "REPLICATION_KEYS",
    "SCALES",
    "Counters",
    "DaktelaSimulator",
    "Knobs",
]
