"""The packages' modules import each other without a cycle, and the tap is the run its streams are written against."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imports(package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (type-checking-only imports included: they are a cycle too)."""
    modules = {path.stem: path for path in (REPO / package).glob("*.py") if path.stem != "__init__"}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.level == 1:
                    found.add(node.module.split(".")[0])
                elif node.module.startswith(f"{package}."):
                    found.add(node.module.split(".")[1])
        graph[name] = found & modules.keys()
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


@pytest.mark.parametrize("package", ["tap_daktela", "keboola_wrapper"])
def test_no_import_cycle(package):
    assert cycle(imports(package)) is None


def test_the_cycle_finder_finds_one():
    found = cycle({"tap": {"client"}, "client": {"streams"}, "streams": {"tap"}, "dates": set()})
    assert found == ["client", "streams", "tap", "client"]


def test_the_tap_has_everything_a_daktela_run_names():
    """Streams and discovery see the tap only as a `DaktelaRun`: the tap must offer every member (looked up without
    evaluating properties, some of which ask the instance)."""
    from tap_daktela.run import DaktelaRun
    from tap_daktela.tap import TapDaktela

    tap = TapDaktela(config={"url": "https://example.daktela.com"}, parse_env_config=False)
    members = {name for name in vars(DaktelaRun) if not name.startswith("_")} | set(DaktelaRun.__annotations__)
    assert len(members) > 10
    missing = [name for name in members if not (hasattr(TapDaktela, name) or name in vars(tap))]
    assert not missing
