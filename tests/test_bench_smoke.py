"""Smoke test of the benchmark script: it runs on the small scale, prints its table and the counts match.

Not a timed test: nothing here asserts on speed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_quick_prints_table_with_matching_counts(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.bench", "--quick", "--cases", "raw,tap", "--output", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| case | latency ms | records | wall s | records/s |")
    rows = table[1:]
    assert [row.split(" | ")[0] for row in rows] == [
        "| raw floor (GET + json.loads)",
        "| tap > /dev/null, activities",
        "| tap > /dev/null, all streams",
    ]
    checks = [line for line in proc.stdout.splitlines() if line.startswith("- ") and "simulator total" in line]
    assert len(checks) == 3
    assert all(line.startswith("- OK ") for line in checks), checks
    for line in checks:  # "<n> records, simulator total <n>"
        got, want = line.split(": ", 1)[1].split(" records, simulator total ")
        assert int(got) == int(want) > 0
    assert out.read_text(encoding="utf-8") == proc.stdout
