"""Start `tap-daktela` and `target-csv` processes without paying their start-up every time.

A new Python process spends ~0.35 s of CPU importing singer-sdk before it reads a byte, and a full run starts 30
of them (a tap and a target per endpoint): a fifth of the whole run's CPU on a 2-core machine. The launcher is
one process that imports both programs once and then forks a ready process per request. Each forked process is
still its own OS process running the program's command line (`main()` of the module `PROGRAMS` names: the tap's,
and target-csv's with the SDK's msgspec reader, see `csv_target`), with the stdin, stdout, stderr,
environment and working directory of the request, so a pipeline behaves exactly like
`tap-daktela ... | target-csv ...`.

`ExecStarter` starts the same programs with plain `subprocess` (set `KBC_DAKTELA_LAUNCHER=exec`), for comparison
and as a way out should forking ever misbehave.

Protocol: requests travel over an AF_UNIX SOCK_SEQPACKET pair, one JSON message each with four file descriptors
attached (stdin, stdout, stderr of the new process and the write end of its status pipe). The launcher writes
`<pid>` and, once the process has ended and been reaped, `<exit code> <CPU seconds> <peak RSS KB>` (a negative
exit code: killed by that signal) to the status pipe, one line each.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: Each program and the module whose `main()` is its command line (both starters run exactly these).
PROGRAMS = {"tap-daktela": "tap_daktela.tap", "target-csv": "keboola_wrapper.csv_target"}
MODE_VARIABLE = "KBC_DAKTELA_LAUNCHER"
_MAX_REQUEST = 1 << 20


class LaunchError(Exception):
    """The launcher could not start a process."""


@dataclass(frozen=True)
class Usage:
    """What an ended process cost: CPU seconds (user + system) and peak resident memory."""

    cpu_seconds: float
    max_rss_kb: int


class Process(Protocol):
    """The part of `subprocess.Popen` that the runner uses."""

    pid: int
    usage: Usage | None  # known once waited for, when the starter can tell

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class Starter(Protocol):
    """Starts one of `PROGRAMS` with the given standard streams (file descriptors, inherited by the new process)."""

    def start(
        self, program: str, args: list[str], *, stdin: int, stdout: int, stderr: int, env: dict[str, str], cwd: Path
    ) -> Process: ...

    def close(self) -> None: ...


class _Subprocess(subprocess.Popen):
    usage: Usage | None = None  # Popen reaps the process itself and keeps no resource usage


class ExecStarter:
    """Each program as a fresh `subprocess` (pays the imports every time)."""

    def start(
        self, program: str, args: list[str], *, stdin: int, stdout: int, stderr: int, env: dict[str, str], cwd: Path
    ) -> Process:
        command = [sys.executable, "-m", PROGRAMS[program], *args]
        return _Subprocess(command, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd)

    def close(self) -> None:
        pass


class ForkedProcess:
    """A process forked by the launcher; its pid and exit code arrive on its status pipe."""

    def __init__(self, program: str, status_fd: int) -> None:
        self.program = program
        self._status = os.fdopen(status_fd, "r", encoding="ascii")
        self.returncode: int | None = None
        self.usage: Usage | None = None
        first = self._status.readline().strip()
        if not first.lstrip("-").isdigit():
            self._status.close()
            raise LaunchError(f"could not start {program}: {first or 'the launcher has stopped'}")
        self.pid = int(first)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if timeout is not None and not select.select([self._status], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.program, timeout)
            fields = self._status.readline().split()
            self._status.close()
            if fields and fields[0].lstrip("-").isdigit():
                self.returncode = int(fields[0])
                self.usage = Usage(float(fields[1]), int(fields[2]))
            else:  # no exit line: the launcher itself was killed before it could reap the process
                self.returncode = -int(signal.SIGKILL)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class ForkStarter:
    """Client of one launcher process, shared by the runner's threads."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._socket = ours
        self._lock = threading.Lock()
        self._launcher = subprocess.Popen(
            [sys.executable, "-m", "keboola_wrapper.launcher", str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            pass_fds=[theirs.fileno()],
        )
        theirs.close()

    def start(
        self, program: str, args: list[str], *, stdin: int, stdout: int, stderr: int, env: dict[str, str], cwd: Path
    ) -> Process:
        request = json.dumps({"program": program, "args": args, "env": env, "cwd": str(cwd)}).encode()
        if len(request) > _MAX_REQUEST:
            raise LaunchError(f"request to start {program} is too large")
        status_read, status_write = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self._socket, [request], [stdin, stdout, stderr, status_write])
        except OSError as exc:
            os.close(status_read)
            raise LaunchError(f"could not start {program}: the launcher is gone ({exc})") from exc
        finally:
            os.close(status_write)
        return ForkedProcess(program, status_read)

    def close(self) -> None:
        """Closing the socket tells the launcher to exit; processes it started run on to their end."""
        self._socket.close()
        self._launcher.wait()


def new_starter() -> Starter:
    """The fork launcher, unless `KBC_DAKTELA_LAUNCHER=exec` asks for plain subprocesses."""
    return ExecStarter() if os.environ.get(MODE_VARIABLE, "fork") == "exec" else ForkStarter()


# ------------------------------------------------------------------------------------------------ launcher side


class _Launcher:
    """Receives requests, forks, and reports each child's pid and exit code; single-threaded, so forking is safe."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        # the imports happen here, once
        self.entries = {program: importlib.import_module(module).main for program, module in PROGRAMS.items()}
        self.children: dict[int, int] = {}  # pid -> status pipe write end
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_write, False)
        self.selector = selectors.DefaultSelector()

    def serve(self) -> int | None:
        """Serve until the control socket closes. Returns None here; in a forked child, the program's exit code."""
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wake-up fd is written
        signal.set_wakeup_fd(self.wake_write)
        self.selector.register(self.control, selectors.EVENT_READ)
        self.selector.register(self.wake_read, selectors.EVENT_READ)
        open_control = True
        while open_control or self.children:
            for key, _ in self.selector.select():
                if key.fileobj is self.control:
                    message, fds, _flags, _addr = socket.recv_fds(self.control, _MAX_REQUEST, 4)
                    if not message:
                        open_control = False
                        self.selector.unregister(self.control)
                        continue
                    code = self._fork(json.loads(message), fds)
                    if code is not None:
                        return code
                else:
                    os.read(self.wake_read, 4096)
            self._reap()
        return None

    def _fork(self, request: dict[str, Any], fds: list[int]) -> int | None:
        stdin, stdout, stderr, status = fds
        try:
            pid = os.fork()
        except OSError as exc:
            os.write(status, f"fork failed: {exc}\n".encode())
            for fd in fds:
                os.close(fd)
            return None
        if pid == 0:
            return self._become(request, fds)
        for fd in (stdin, stdout, stderr):
            os.close(fd)
        os.write(status, f"{pid}\n".encode())
        self.children[pid] = status
        return None

    def _reap(self) -> None:
        for pid in list(self.children):
            done, wait_status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                status = self.children.pop(pid)
                code = os.waitstatus_to_exitcode(wait_status)
                os.write(status, f"{code} {usage.ru_utime + usage.ru_stime:.3f} {usage.ru_maxrss}\n".encode())
                os.close(status)

    def _become(self, request: dict[str, Any], fds: list[int]) -> int:
        """In the forked child: drop the launcher's state, take the request's streams, run the program."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.selector.close()
        self.control.close()
        for fd in (self.wake_read, self.wake_write, fds[3], *self.children.values()):
            os.close(fd)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        program = request["program"]
        sys.argv = [program, *request["args"]]
        try:
            result = self.entries[program]()
        except SystemExit as exc:
            result = exc.code
        if result is None or isinstance(result, int):
            return result or 0
        print(result, file=sys.stderr)
        return 1


def main() -> int:
    """`python -m keboola_wrapper.launcher FD`: serve on the inherited socket FD."""
    control = socket.socket(fileno=int(sys.argv[1]))
    code = _Launcher(control).serve()
    return 0 if code is None else code


if __name__ == "__main__":
    sys.exit(main())
