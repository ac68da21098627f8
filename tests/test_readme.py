"""The README's settings table is the tap's own `--about --format markdown` output, kept in sync."""

from __future__ import annotations

import subprocess

from tests.conftest import BIN, REPO

GENERIC_SDK_SETTINGS = ("stream_map", "faker_config", "flattening_", "batch_config")


def test_readme_settings_table_matches_about_output():
    about = subprocess.run(
        [str(BIN / "tap-daktela"), "--about", "--format", "markdown"], capture_output=True, text=True, check=True
    ).stdout
    rows = [
        line
        for line in about.split("## Settings", 1)[1].splitlines()
        if line.startswith("| ") and not line.startswith(tuple(f"| {name}" for name in GENERIC_SDK_SETTINGS))
    ]
    readme = (REPO / "README.md").read_text()
    assert len(rows) > 10
    missing = [row for row in rows if row not in readme]
    assert not missing, f"README settings table is out of date: {missing}"


def test_readme_names_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
