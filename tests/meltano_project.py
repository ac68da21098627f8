"""A temporary copy of the Meltano project and the shell a user runs `meltano` from, for the Meltano tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import PASSWORD, USERNAME

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# What the editable install (`pip_url: -e .`) needs from the project.
PROJECT_FILES = ("meltano.yml", "pyproject.toml", "README.md", "tap_daktela", "keboola_wrapper", "plugins", "logging")


def copy_project(root: Path) -> Path:
    """Copy the Meltano project into `root` (its plugins are installed by the first meltano command)."""
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy2(source, root / name)
    return root


def user_env(url: str, **extra: str) -> dict[str, str]:
    """The user's shell: meltano (and uv) on PATH, credentials in the variables meltano.yml points at, nothing of
    this test run's own meltano, tap or target settings."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MELTANO_", "TAP_DAKTELA", "TARGET_CSV", "DAKTELA_", "VIRTUAL_ENV"))
    }
    return base | {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAKTELA_URL": url,
        "DAKTELA_USERNAME": USERNAME,
        "DAKTELA_PASSWORD": PASSWORD,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_HUB_URL": "http://127.0.0.1:9/meltano-hub-is-not-needed",  # nothing listens: the Hub is never used
        **extra,
    }


def run_meltano(project: Path, *args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `meltano` CLI in `project`; the caller checks the outcome."""
    return subprocess.run(
        [str(BIN / "meltano"), *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout
    )
