"""The Keboola image without a Docker engine: the Dockerfile's own steps, replayed on this machine.

The Dockerfile is parsed; its COPY steps rebuild the image's WORKDIR in a temporary folder, its `pip install`
line runs verbatim into a fresh venv (the image's interpreter), and its ENTRYPOINT/CMD runs with `KBC_DATADIR`
pointing at a data folder (the `/data` mount) whose config.json targets the simulator.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

from tests.simulator import DaktelaSimulator

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
SAMPLE_DATA = REPO / "demo" / "keboola-data"
ENDPOINTS = ("tickets", "users", "activitiesCall")

csv.field_size_limit(sys.maxsize)


@dataclass
class Image:
    """What the Dockerfile declares, in order."""

    base: str = ""
    workdir: str = "/"
    user: str = "root"
    env: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[list[str], str, str]] = field(default_factory=list)  # (sources, dest, workdir then)
    runs: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def _exec_form(argument: str) -> list[str]:
    argument = argument.strip()
    return json.loads(argument) if argument.startswith("[") else ["/bin/sh", "-c", argument]


def parse_dockerfile(text: str) -> Image:
    image = Image()
    logical = re.sub(r"\\\n", " ", text)
    for raw in logical.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        instruction, argument = instruction.upper(), argument.strip()
        if instruction == "FROM":
            image.base = argument.split()[0]
        elif instruction == "WORKDIR":
            image.workdir = str(PurePosixPath(image.workdir, argument))
        elif instruction == "ENV":
            for pair in shlex.split(argument):
                key, _, value = pair.partition("=")
                image.env[key] = value
        elif instruction == "COPY":
            *sources, dest = shlex.split(argument)
            assert not any(s.startswith("--") for s in sources), "COPY flags are not replayed by this test"
            image.copies.append((sources, dest, image.workdir))
        elif instruction == "RUN":
            image.runs.append(argument)
        elif instruction == "USER":
            image.user = argument
        elif instruction == "ENTRYPOINT":
            image.entrypoint = _exec_form(argument)
        elif instruction == "CMD":
            image.cmd = _exec_form(argument)
        else:
            assert instruction in {"LABEL", "ARG", "EXPOSE"}, f"instruction {instruction} is not replayed by this test"
    return image


@pytest.fixture(scope="module")
def image() -> Image:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_dockerfile_declares_a_slim_python311_non_root_keboola_image(image: Image) -> None:
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]+)?", image.base), image.base
    assert image.user.split(":")[0] not in {"", "root", "0"}, "the component must not run as root"
    assert image.env.get("KBC_DATADIR") == "/data"
    assert (image.entrypoint + image.cmd)[-3:] == ["python", "-m", "keboola_wrapper"]
    installs = [run for run in image.runs if "pip install" in run]
    assert len(installs) == 1 and "-c requirements.lock" in installs[0], installs
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".meltano", ".env"} <= set(ignored)


@pytest.fixture(scope="module")
def installed(image: Image, tmp_path_factory) -> tuple[Path, Path]:
    """Replay COPY and the pip install into a fresh venv. Returns (venv, the image's WORKDIR)."""
    root = tmp_path_factory.mktemp("image")
    for sources, dest, workdir in image.copies:
        target = root / PurePosixPath(workdir, dest).relative_to("/")
        into_dir = dest.endswith("/") or len(sources) > 1
        for source in sources:
            path = REPO / source
            destination = target / path.name if into_dir and path.is_file() else target
            if path.is_dir():
                shutil.copytree(path, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = image_env(image, venv)
    installs = [run for run in image.runs if "pip install" in run]
    for run in image.runs:  # the other steps only prepare the user and folders, nothing the install needs
        if run in installs:
            continue
        for step in run.split("&&"):
            assert step.split()[0] in {"useradd", "groupadd", "adduser", "addgroup", "mkdir", "chown"}, run
    workdir = root / PurePosixPath(image.workdir).relative_to("/")
    for run in installs:
        command = shlex.split(run)
        assert command[0] in {"pip", "pip3", "python", "python3"}, run
        python = str(venv / "bin" / "python")
        command = [python, "-m", "pip", *command[1:]] if command[0].startswith("pip") else [python, *command[1:]]
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{run}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return venv, workdir


def image_env(image: Image, venv: Path) -> dict[str, str]:
    """The container's environment: the image's ENV on top of a clean shell, its python first on PATH."""
    base = {key: value for key, value in os.environ.items() if key in {"HOME", "LANG", "TMPDIR", "PIP_INDEX_URL"}}
    base |= {key: value for key, value in os.environ.items() if key.startswith(("PIP_", "UV_"))}
    return base | image.env | {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin"}


def test_image_entrypoint_extracts_tables(image: Image, installed: tuple[Path, Path], tmp_path: Path) -> None:
    venv, workdir = installed
    data = tmp_path / "data"
    shutil.copytree(SAMPLE_DATA, data)
    config = json.loads((data / "config.json").read_text())
    with DaktelaSimulator(seed=3, scale="small") as sim:
        config["parameters"]["connection"]["url"] = sim.url
        config["parameters"]["data_selection"]["endpoints"] = [{"endpoint": ep, "fields": []} for ep in ENDPOINTS]
        (data / "config.json").write_text(json.dumps(config))

        command = image.entrypoint + image.cmd
        command = [str(venv / "bin" / command[0]), *command[1:]]  # `python` resolved on the image's PATH
        env = image_env(image, venv) | {"KBC_DATADIR": str(data)}  # the /data mount
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-4000:]

        tables = data / "out" / "tables"
        assert sorted(path.name for path in tables.glob("*.csv")) == sorted(f"{ep}.csv" for ep in ENDPOINTS)
        for endpoint in ENDPOINTS:
            with (tables / f"{endpoint}.csv").open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            assert len(rows) == len(sim.records(endpoint)), endpoint
            manifest = json.loads((tables / f"{endpoint}.csv.manifest").read_text())
            primary_key = manifest.get("primary_key") or [c["name"] for c in manifest["schema"] if c.get("primary_key")]
            assert primary_key == (["id_call"] if endpoint == "activitiesCall" else ["name"])
        assert (data / "out" / "state.json").exists()
    # The wrapper ran the tap and target-csv installed by the image's pip step, not the project's venv.
    assert (venv / "bin" / "tap-daktela").exists() and (venv / "bin" / "target-csv").exists()


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_image_installs_only_pinned_versions(installed: tuple[Path, Path]) -> None:
    """Every package in the image comes from requirements.lock at the locked version (a reproducible image)."""
    venv, _ = installed
    locked = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            locked[_normalize(name)] = version
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    installed_versions = {_normalize(item["name"]): item["version"] for item in json.loads(done.stdout)}
    unpinned = {
        name: version
        for name, version in installed_versions.items()
        if name not in {"pip", "setuptools", "wheel", "tap-daktela"} and locked.get(name) != version
    }
    assert not unpinned, f"installed but not pinned in requirements.lock (run `make lock`): {unpinned}"
