"""Start `tap-daktela` and `target-csv` processes without paying their start-up every time.

A new Python process spends ~0.35 s of CPU importing singer-sdk before it reads a byte, and a full run starts 70
of them (a tap and a target per endpoint). `ForkStarter` uses the standard library's `multiprocessing`
forkserver with both programs preloaded (`set_forkserver_preload`): one server process imports them once, and
each start forks a ready child from it. Each child is still its own OS process running the program's command
line (`main()` of the module `PROGRAMS` names: the tap's, and target-csv's with the SDK's msgspec reader, see
`csv_target`) with the stdin, stdout, stderr, environment and working directory of the request, so a pipeline
behaves exactly like `tap-daktela ... | target-csv ...`; its exit code is its own (negative: killed by that
signal, as with `subprocess`). The child's file descriptors travel with `socket.send_fds`, and the child sends
its own CPU time and peak RSS back on the same socket as it ends (unknown when it was killed).

`ExecStarter` starts the same programs with plain `subprocess` (set `KBC_DAKTELA_LAUNCHER=exec`), for comparison
and as a way out should forking ever misbehave.

Measured in one run (scale `bench`, all 35 endpoints, real-size payloads, `keys` mode, 0 ms, the component end to
end, median of 3 runs in alternating order on a shared 2-core machine; CPU s / wall s): this forkserver 15.4 /
13.5, the hand-written fork server it replaced (SOCK_SEQPACKET, descriptor passing, SIGCHLD pipe; 267 lines)
22.5 / 24.1, fresh processes (exec) 45.0 / 45.9. The standard mechanism keeps the whole saving and adds some: its
children end with `os._exit` after flushing, as every multiprocessing child does, instead of tearing down the
interpreter they inherited (~0.08 CPU-s a process). Details: docs/benchmark.md.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: Each program and the module whose `main()` is its command line (both starters run exactly these).
PROGRAMS = {"tap-daktela": "tap_daktela.tap", "target-csv": "keboola_wrapper.csv_target"}
MODE_VARIABLE = "KBC_DAKTELA_LAUNCHER"
# A forkserver child's exit code arrives once, on a pipe, and whoever polls first reads it; a second reader finds
# the pipe at its end and multiprocessing then reports 255. `Process.start()` polls every other running child
# (to forget ended ones), so starts and exit-code reads of the runner's threads take turns on this lock.
_POLL_LOCK = threading.Lock()


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

    def terminate(self) -> None: ...

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
    """A child of the forkserver: `multiprocessing.Process` with `Popen`'s wait/terminate/kill and its usage."""

    def __init__(self, program: str, process: multiprocessing.process.BaseProcess, channel: socket.socket) -> None:
        self.program = program
        self._process = process
        self._channel = channel  # the child writes "<CPU seconds> <peak RSS KB>" here as it ends
        self.pid: int = process.pid  # type: ignore[assignment]  # set once started
        self.returncode: int | None = None
        self.usage: Usage | None = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            # the sentinel is ready once the child has ended; waiting on it reads nothing (see _POLL_LOCK)
            multiprocessing.connection.wait([self._process.sentinel], timeout)
            with _POLL_LOCK:
                code = self._process.exitcode
                if code is None:
                    raise subprocess.TimeoutExpired(self.program, timeout or 0)
                self._process.close()
            self.returncode = code
            self.usage = self._read_usage()
        return self.returncode

    def _read_usage(self) -> Usage | None:
        self._channel.settimeout(1)  # the child has ended: its report is there or never will be
        try:
            fields = self._channel.recv(64).split()
        except OSError:
            fields = []
        finally:
            self._channel.close()
        return Usage(float(fields[0]), int(fields[1])) if len(fields) == 2 else None

    def terminate(self) -> None:
        """SIGTERM, as `Popen.terminate`."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.terminate()

    def kill(self) -> None:
        """SIGKILL, as `Popen.kill`."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()


class ForkStarter:
    """Starts the programs as children of the `multiprocessing` forkserver, which has imported them once.

    Creating it starts the forkserver, so that the imports happen while the component logs in and discovers.
    """

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("forkserver")
        # `__main__` as the default list has it: a test runner's main script is then imported once, not per child
        self._context.set_forkserver_preload(["__main__", __name__, *PROGRAMS.values()])
        try:
            multiprocessing.forkserver.ensure_running()
        except OSError as exc:
            raise LaunchError(f"could not start the forkserver: {exc}") from exc

    def start(
        self, program: str, args: list[str], *, stdin: int, stdout: int, stderr: int, env: dict[str, str], cwd: Path
    ) -> Process:
        if program not in PROGRAMS:
            raise LaunchError(f"unknown program {program}")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(ours, [b"fds"], [stdin, stdout, stderr])  # queued until the child reads them
            process = self._context.Process(
                target=_child, args=(program, args, env, str(cwd), theirs), name=program, daemon=False
            )
            with _POLL_LOCK:
                process.start()
        except (OSError, ValueError, EOFError) as exc:  # EOFError: the forkserver died before it answered
            ours.close()
            raise LaunchError(f"could not start {program}: {exc or 'the forkserver is gone'}") from exc
        finally:
            theirs.close()
        return ForkedProcess(program, process, ours)

    def close(self) -> None:
        """Stop the forkserver and the resource tracker it started, and reap both.

        Reaping them keeps every child's CPU time in this process's own accounts (`RUSAGE_CHILDREN`, what the
        benchmark and Keboola's job statistics see) and leaves no process behind the run. The standard library
        stops them only at interpreter exit and without reaping; `_stop()` is the stop it uses in its own tests,
        the only private names of this module. The forkserver ends once every child it forked has ended.
        """
        multiprocessing.forkserver._forkserver._stop()
        multiprocessing.resource_tracker._resource_tracker._stop()


def new_starter() -> Starter:
    """The forkserver, unless `KBC_DAKTELA_LAUNCHER=exec` asks for plain subprocesses."""
    return ExecStarter() if os.environ.get(MODE_VARIABLE, "fork") == "exec" else ForkStarter()


# ------------------------------------------------------------------------------------------------ child side


def _child(program: str, args: list[str], env: dict[str, str], cwd: str, channel: socket.socket) -> None:
    """In the forked child: take the request's streams, environment and directory, run the program, report usage."""
    _message, fds, _flags, _address = socket.recv_fds(channel, 16, 3)
    # multiprocessing gave the child a /dev/null stdin; close it before its descriptor number can be reused
    encoding, errors = sys.__stdin__.encoding, sys.__stdin__.errors
    sys.stdin.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    # as a fresh interpreter would: stdin anew on fd 0; stdout and stderr, never written by the server, are the
    # interpreter's own objects on fds 1 and 2, which now are the request's
    sys.stdin = sys.__stdin__ = open(0, encoding=encoding, errors=errors, closefd=False)  # noqa: SIM115
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    _readers_read_this_stdin()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [program, *args]
    try:
        code = _run_main(program)
    finally:
        # the child ends with os._exit, as multiprocessing's children do, so flush what the interpreter's exit would
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        used = resource.getrusage(resource.RUSAGE_SELF)
        with contextlib.suppress(OSError):
            channel.sendall(f"{used.ru_utime + used.ru_stime:.3f} {used.ru_maxrss}".encode())
        channel.close()
    sys.exit(code)


def _readers_read_this_stdin() -> None:
    """singer-sdk's message readers keep, as `default_input`, the `sys.stdin` of the process that imported them:
    in the forkserver that object is closed before any child starts (multiprocessing gives the server a /dev/null
    stdin), so every reader class that has one gets the child's own."""
    from singer_sdk.singerlib.encoding import GenericSingerReader

    todo: list[type] = [GenericSingerReader]
    while todo:
        reader = todo.pop()
        todo += reader.__subclasses__()
        if "default_input" in vars(reader):
            reader.default_input = sys.stdin  # type: ignore[attr-defined]


def _run_main(program: str) -> int:
    """The program's exit code as its command line would end: `SystemExit`'s code, 1 after an uncaught error."""
    try:
        result = importlib.import_module(PROGRAMS[program]).main()
    except SystemExit as exc:
        result = exc.code
    except KeyboardInterrupt:
        # as the interpreter does on an unhandled Ctrl-C: the traceback, then die of SIGINT
        sys.excepthook(*sys.exc_info())
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 1
    except BaseException:  # as the interpreter ends on any other uncaught exception: the traceback, exit code 1
        sys.excepthook(*sys.exc_info())
        return 1
    if result is None or isinstance(result, int):
        return result or 0
    print(result, file=sys.stderr)
    return 1
