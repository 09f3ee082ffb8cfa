"""Warm job workers: one long-lived process that has imported what jobs need and forks a job's
process on request, so a job starts in milliseconds instead of paying 2-3 s of imports.

The warm worker (``python -m kiln.compute._zygote``, a "zygote") listens on a Unix socket in the
user's runtime folder (mode 0700, the socket 0600). Its name is a key of everything that shapes a
process at import time: the Python executable, kiln's version and its source files' mtimes, the
site-packages folders, and the environment variables that libraries read when they load
(``PYTHONPATH``, OpenMP/BLAS thread settings, locale), and of what a forked child keeps: the
CPUs and nice value it runs with. Per-job values (``KILN_HOME``, the store URL, the launcher's
pid) are not part of it, so one warm worker serves every workspace of a user.

A launcher (:class:`kiln.compute.LocalExecutor`) connects, sends the job's id, environment,
working folder, umask, ignored signals and its stdin/stdout/stderr descriptors
(``socket.send_fds``). The worker forks; the child takes all of that on and runs exactly what
``python -m kiln.worker JOB`` runs. The worker sends back the child's pid and, when it ends, its
exit status, and keeps the ended child a zombie until the launcher has read the status and
closed the connection, as a parent that waits for its child would: the job's record names the
worker as the process that reaps it (see :func:`kiln.compute._process.is_running`).
:class:`WarmProcess` is the launcher's handle, with the ``subprocess.Popen`` methods the executor
uses.

The first job without a warm worker starts one in the background (its own session) and runs
the old way (``subprocess.Popen``); so does every job when the worker cannot be reached
(logged once). The worker exits after ``warm_worker_idle_seconds`` without a job, and as soon as
kiln's sources change (a new key names a new worker). It never runs threads or OpenMP work
before it forks, so its children start as a fresh process would: single-threaded.

Linux only (``fork`` after imports, ``waitid``); elsewhere jobs start with ``Popen``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import hashlib
import importlib
import json
import logging
import os
import runpy
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kiln.compute._process import started_by

__all__ = [
    "WARM_DIR_ENV",
    "WarmProcess",
    "runtime_folder",
    "start_warm",
    "warm_key",
    "warm_supported",
]

log = logging.getLogger("kiln.compute")

# Where the sockets live, instead of $XDG_RUNTIME_DIR/kiln or TMPDIR/kiln-UID.
WARM_DIR_ENV = "KILN_WARM_DIR"
_SOURCES = Path(__file__).resolve().parents[1]  # the kiln package
# Environment variables read while the libraries a job needs are imported: a worker started
# with other values would not be the process `python -m kiln.worker` starts.
_IMPORT_TIME_PREFIXES = (
    "PYTHON",
    "OMP_",
    "KMP_",
    "GOMP_",
    "MKL_",
    "OPENBLAS_",
    "GOTO",
    "BLIS_",
    "VECLIB_",
    "NUMEXPR_",
    "NUMBA_",
    "JOBLIB_",
    "LOKY_",
    "SKLEARN_",
    "ARROW_",
    "LD_",
    "LC_",
)
_IMPORT_TIME_NAMES = ("LANG", "TZ", "VIRTUAL_ENV")
# Imported by the worker before it serves, besides kiln.worker and each job kind's module: the
# libraries those load only when a job uses them. Not torch: seconds of import and hundreds of
# MB that few jobs need.
_PRELOAD = (
    "lightgbm",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "pyarrow.parquet",
    "pyarrow.csv",
)
# How long a launcher waits for the worker to answer (a busy machine can be slow to fork).
_ANSWER_SECONDS = 30.0
# How often the worker looks at kiln's sources, its idle time and its socket.
_CHECK_SECONDS = 2.0
_HEADER = struct.Struct("!I")
_IGNORABLE = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


def warm_supported() -> bool:
    """Whether jobs can start through a warm worker here (Linux: fork, waitid, fd passing)."""
    return (
        sys.platform.startswith("linux") and hasattr(socket, "send_fds") and hasattr(os, "waitid")
    )


# -- the key -----------------------------------------------------------------------------------
def sources_stamp(sources: Path | None = None) -> str:
    """A digest of the path, size and mtime of every kiln source file (of ``sources``, the kiln
    package by default): changes when one does."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(sources or _SOURCES):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    info = os.stat(path)
                    digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _import_environment(env: dict[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in env.items()
        if name.startswith(_IMPORT_TIME_PREFIXES) or name in _IMPORT_TIME_NAMES
    }


def warm_key(env: dict[str, str], *, stamp: str | None = None) -> str:
    """The key of the warm worker that may run a job with environment ``env``."""
    import site

    from kiln import __version__

    digest = hashlib.sha256()
    parts = {
        "executable": sys.executable,
        "version": __version__,
        "sources": stamp if stamp is not None else sources_stamp(_SOURCES),
        # A package installed or removed changes its site-packages folder's mtime.
        "site": [
            (folder, os.stat(folder).st_mtime_ns)
            for folder in site.getsitepackages()
            if os.path.isdir(folder)
        ],
        "environment": sorted(_import_environment(env).items()),
        "placement": _placement(),
    }
    digest.update(json.dumps(parts, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def _placement() -> dict:
    """The CPUs this process may run on and its nice value. A forked job keeps the worker's,
    not its launcher's, and libraries size their thread pools by the CPUs they see at import:
    a launcher pinned (``taskset``) or niced otherwise gets a worker of its own. (One shared
    worker ran the jobs of two benchmark runs pinned to different CPUs on the same CPU.)"""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"cpus": cpus, "nice": os.getpriority(os.PRIO_PROCESS, 0)}


def runtime_folder() -> Path:
    """The folder of the warm workers' sockets: ``$KILN_WARM_DIR``, else ``$XDG_RUNTIME_DIR/kiln``,
    else ``TMPDIR/kiln-UID``; created mode 0700, and refused if another user could write in it."""
    if os.environ.get(WARM_DIR_ENV):
        folder = Path(os.environ[WARM_DIR_ENV])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "kiln"
    else:
        folder = Path(tempfile.gettempdir()) / f"kiln-{os.getuid()}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(
            f"{folder} belongs to another user or others may write in it; warm job workers "
            "need a folder of this user's own."
        )
    return folder


# -- the launcher's side -----------------------------------------------------------------------
_warned: set[str] = set()


def _warn_once(what: str, message: str) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning("%s Jobs start without a warm worker meanwhile.", message)


def _umask() -> int:
    # Read, not set and reset: another thread may be creating files right now.
    try:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    except (OSError, ValueError, StopIteration):
        pass
    return 0o022


def start_warm(
    job_id: str, *, env: dict[str, str], stderr: int, idle_seconds: float
) -> WarmProcess | None:
    """Start job ``job_id``'s process through the warm worker; None when there is none to use
    (the caller starts it with ``Popen``), after starting one in the background if none runs.

    ``env`` is the job process's whole environment, ``stderr`` the descriptor of its stderr
    (stdout goes to /dev/null, stdin is this process's)."""
    if not warm_supported():
        return None
    try:
        folder = runtime_folder()
        key = warm_key(env)
    except OSError as exc:
        _warn_once("folder", f"Warm job workers are off: {exc}")
        return None
    path = folder / f"{key}.sock"
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(_ANSWER_SECONDS)
        connection.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        connection.close()
        _start_worker(folder, key, env, idle_seconds)
        return None
    except OSError as exc:
        connection.close()
        _warn_once("connect", f"The warm job worker at {path} cannot be reached: {exc}.")
        return None
    try:
        return _request(connection, key, job_id, env, stderr)
    except (OSError, ValueError) as exc:
        connection.close()
        _warn_once("request", f"The warm job worker at {path} did not start the job: {exc}.")
        return None


def _request(
    connection: socket.socket, key: str, job_id: str, env: dict[str, str], stderr: int
) -> WarmProcess | None:
    request = {
        "key": key,
        "job": job_id,
        "env": env,
        "cwd": os.getcwd(),
        "umask": _umask(),
        "ignored": [int(s) for s in _IGNORABLE if signal.getsignal(s) is signal.SIG_IGN],
    }
    payload = json.dumps(request).encode()
    with open(os.devnull, "rb+") as devnull:
        stdin = 0 if _is_open(0) else devnull.fileno()
        socket.send_fds(connection, [_HEADER.pack(len(payload))], [stdin, devnull.fileno(), stderr])
    connection.sendall(payload)
    answer = _read_message(connection, deadline=time.monotonic() + _ANSWER_SECONDS)
    if answer is None or "pid" not in answer:
        reason = (answer or {}).get("refused", "it closed the connection")
        raise ValueError(reason)
    return WarmProcess(connection, answer["pid"], job_id)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _read_message(
    connection: socket.socket, *, deadline: float | None, buffer: bytearray | None = None
) -> dict | None:
    """One newline-ended JSON message; None at end of stream. Raises TimeoutError past
    ``deadline`` (None: wait as long as it takes), keeping what arrived so far in ``buffer``."""
    buffer = bytearray() if buffer is None else buffer
    while b"\n" not in buffer:
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        connection.settimeout(timeout)
        chunk = connection.recv(4096)
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return json.loads(line)


def _start_worker(folder: Path, key: str, env: dict[str, str], idle_seconds: float) -> None:
    """Start a warm worker for ``key`` in the background, unless one is starting already."""
    lock = folder / f"{key}.lock"
    try:
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # a worker holds it: it is importing, and will listen soon
    except OSError as exc:
        _warn_once("start", f"A warm job worker could not start: {exc}.")
        return
    # Per-job values stay out: the worker serves any workspace, and its children get the
    # launcher's environment anyway.
    worker_env = {k: v for k, v in env.items() if not k.startswith("KILN_")}
    command = [
        sys.executable,
        "-m",
        "kiln.compute._zygote",
        *("--folder", str(folder), "--key", key, "--sources", str(_SOURCES)),
        *("--idle-seconds", f"{idle_seconds:g}"),
    ]
    try:
        with open(folder / f"{key}.log", "ab") as out:
            process = subprocess.Popen(
                command,
                env=worker_env,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
    except OSError as exc:
        _warn_once("start", f"A warm job worker could not start: {exc}.")
        return
    # This process is its parent until it exits: collect its exit status then, so it does not
    # stay a zombie of a long-lived launcher (a server, a test run).
    threading.Thread(target=process.wait, name="kiln-warm-reaper", daemon=True).start()


class WarmProcess:
    """A job's process started by the warm worker, with the ``subprocess.Popen`` methods the
    executor uses. Its exit status arrives over the connection; :meth:`close` once it is
    recorded lets the worker reap the process."""

    def __init__(self, connection: socket.socket, pid: int, job_id: str):
        self.pid = pid
        self.args = ["kiln.worker", job_id]
        self.returncode: int | None = None
        self._connection = connection
        self._buffer = bytearray()
        self._started = time.time()

    def poll(self) -> int | None:
        if self.returncode is None:
            self._read(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._read(timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        # Until the connection is closed the worker keeps the ended process as a zombie, so the
        # pid is still this process's, never a reused one.
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """The exit status is recorded: the worker may reap the process."""
        self._connection.close()

    def _read(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            message = _read_message(self._connection, deadline=deadline, buffer=self._buffer)
        except (TimeoutError, BlockingIOError):
            return
        except OSError:
            message = None
        if message is not None:
            self.returncode = int(message["returncode"])
            return
        # The worker ended (killed) before the process did: it is nobody's child to wait for
        # now, so watch the process table until it is gone. Its exit status is lost.
        end = None if deadline is None else deadline
        while started_by(self.pid, self._started):
            if end is not None and time.monotonic() >= end:
                return
            time.sleep(0.05)
        self.returncode = 255


# -- the worker's side -------------------------------------------------------------------------
@dataclass
class _JobRequest:
    """What the forked child needs to become the job's process."""

    job_id: str
    env: dict[str, str]
    cwd: str
    umask: int
    ignored: list[int]
    fds: list[int]


class _Worker:
    """The warm worker's loop: accept requests, fork, report exit statuses, reap."""

    def __init__(
        self,
        listener: socket.socket,
        path: Path,
        *,
        key: str,
        sources: Path,
        stamp: str,
        idle_seconds: float,
    ):
        self._listener, self._path, self._key = listener, path, key
        self._inode = os.stat(path).st_ino
        self._idle_seconds = idle_seconds
        self._sources, self._stamp = sources, stamp
        # pid -> the launcher's connection (None once the launcher has gone)
        self._children: dict[int, socket.socket | None] = {}
        self._reported: set[int] = set()
        self._last_activity = time.monotonic()
        self._listening = True

    def serve(self) -> _JobRequest | None:
        """Serve until idle or stale (returns None), or, in a forked child, return its job."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        # poll(), not epoll: a forked child must not share a kernel object with the worker.
        selector = selectors.PollSelector()
        selector.register(self._listener, selectors.EVENT_READ, "listen")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        next_check = time.monotonic() + _CHECK_SECONDS
        while True:
            for selected, _ in selector.select(timeout=_CHECK_SECONDS):
                if selected.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 4096)
                elif selected.data == "listen":
                    request = self._accept(selector)
                    if request is not None:  # the child
                        for fd in (wake_read, wake_write):
                            os.close(fd)
                        return request
                else:
                    self._launcher_closed(selector, selected.fileobj, selected.data)
            self._collect()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + _CHECK_SECONDS
                if self._listening and self._stale():
                    self._stop_listening(selector)
            if not self._children and (
                not self._listening or time.monotonic() - self._last_activity > self._idle_seconds
            ):
                self._stop_listening(selector)
                return None

    def _stale(self) -> str | None:
        """Why this worker must serve no more jobs, if it must."""
        if sources_stamp(self._sources) != self._stamp:
            return "kiln's sources changed"
        try:
            if os.stat(self._path).st_ino != self._inode:
                return "its socket was replaced"
        except FileNotFoundError:
            return "its socket was removed"
        return None

    def _stop_listening(self, selector: selectors.BaseSelector) -> None:
        if not self._listening:
            return
        self._listening = False
        selector.unregister(self._listener)
        with contextlib.suppress(OSError):
            if os.stat(self._path).st_ino == self._inode:
                os.unlink(self._path)
        self._listener.close()

    def _accept(self, selector: selectors.BaseSelector) -> _JobRequest | None:
        try:
            connection, _ = self._listener.accept()
        except BlockingIOError:
            return None
        self._last_activity = time.monotonic()
        fds: list[int] = []
        try:
            connection.settimeout(10.0)
            header, fds, _flags, _address = socket.recv_fds(connection, _HEADER.size, 3)
            while len(header) < _HEADER.size:
                more = connection.recv(_HEADER.size - len(header))
                if not more:
                    raise ConnectionError("the launcher closed the connection")
                header += more
            (size,) = _HEADER.unpack(header)
            payload = b""
            while len(payload) < size:
                more = connection.recv(min(size - len(payload), 1 << 16))
                if not more:
                    raise ConnectionError("the launcher closed the connection")
                payload += more
            request = json.loads(payload)
            if len(fds) != 3:
                raise ValueError(f"expected 3 file descriptors, got {len(fds)}")
        except (OSError, ValueError) as exc:
            print(f"kiln warm worker: a bad request: {exc}", file=sys.stderr, flush=True)
            for fd in fds:
                os.close(fd)
            connection.close()
            return None
        if request.get("key") != self._key:
            _send(connection, {"refused": "the warm worker is stale"})
            for fd in fds:
                os.close(fd)
            connection.close()
            self._stop_listening(selector)
            return None
        pid = os.fork()
        if pid == 0:
            # The child: nothing of the worker's loop may stay open in the job's process (the
            # lock file, the socket, the connections of other jobs).
            self._listener.close()
            for other in self._children.values():
                if other is not None:
                    other.close()
            connection.close()
            selector.close()
            signal.set_wakeup_fd(-1)
            return _JobRequest(
                job_id=request["job"],
                env=request["env"],
                cwd=request["cwd"],
                umask=request["umask"],
                ignored=request["ignored"],
                fds=fds,
            )
        for fd in fds:
            os.close(fd)
        self._children[pid] = connection
        try:
            _send(connection, {"pid": pid})
            connection.setblocking(False)
            selector.register(connection, selectors.EVENT_READ, pid)
        except OSError:
            self._children[pid] = None
            connection.close()
        return None

    def _launcher_closed(self, selector, connection: socket.socket, pid: int) -> None:
        """The launcher closed its connection (done with the exit status, or gone)."""
        with contextlib.suppress(OSError):
            if connection.recv(4096):
                return  # nothing is expected from it; ignore
        selector.unregister(connection)
        connection.close()
        self._children[pid] = None
        if pid in self._reported:
            self._reap(pid)

    def _collect(self) -> None:
        """Send the exit status of each ended child to its launcher, and reap those nobody
        waits for."""
        for pid, connection in list(self._children.items()):
            if pid in self._reported:
                continue
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                self._children.pop(pid, None)
                continue
            if info is None:
                continue
            returncode = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            self._reported.add(pid)
            self._last_activity = time.monotonic()
            if connection is None:
                self._reap(pid)
                continue
            try:
                connection.setblocking(True)
                _send(connection, {"returncode": returncode})
                connection.setblocking(False)
            except OSError:
                self._reap(pid)

    def _reap(self, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self._children.pop(pid, None)
        self._reported.discard(pid)


def _send(connection: socket.socket, message: dict) -> None:
    connection.sendall(json.dumps(message).encode() + b"\n")


def _become_job(request: _JobRequest) -> None:
    """In the forked child: become the process ``python -m kiln.worker JOB`` would have been,
    then run it (returns only by raising, as the module's ``sys.exit`` does)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for sig in _IGNORABLE:
        if sig in request.ignored:
            signal.signal(sig, signal.SIG_IGN)
        elif sig == signal.SIGINT:
            signal.signal(sig, signal.default_int_handler)
        else:
            signal.signal(sig, signal.SIG_DFL)
    for target, fd in enumerate(request.fds):
        os.dup2(fd, target)
        os.close(fd)
    os.umask(request.umask)
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    tempfile.tempdir = None  # TMPDIR is read again on first use
    # As `python -m` sets them: the working folder first on the path, the module's file first
    # in argv.
    sys.path[0] = os.getcwd()
    sys.argv = ["-m", request.job_id]
    _reopen_stdio(unbuffered=bool(request.env.get("PYTHONUNBUFFERED")))
    if "numpy" in sys.modules:
        # A fresh process seeds NumPy's global generator from the OS; forked ones would share
        # the worker's draws. (The random module reseeds itself after a fork.)
        sys.modules["numpy"].random.seed()
    runpy.run_module("kiln.worker", run_name="__main__", alter_sys=True)


def _reopen_stdio(*, unbuffered: bool) -> None:
    """New sys.stdout/sys.stderr on descriptors 1 and 2, buffered as the job's own would be."""
    import io

    for fd, name in ((1, "stdout"), (2, "stderr")):
        raw = io.FileIO(fd, "wb", closefd=False)
        line = name == "stderr" or raw.isatty()
        stream = io.TextIOWrapper(
            io.BufferedWriter(raw),
            encoding=getattr(sys, name).encoding,
            errors="backslashreplace" if name == "stderr" else "strict",
            line_buffering=line and not unbuffered,
            write_through=unbuffered,
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "rb", closefd=False)))
    sys.__stdin__ = sys.stdin


def _preload() -> None:
    """Import what jobs import: kiln.worker (the context, which registers the job kinds), each
    job kind's module, and the libraries those load only when used."""
    importlib.import_module("kiln.worker")
    from kiln.compute._kinds import job_kinds

    for kind in job_kinds():
        for ref in filter(None, (kind.run, kind.report)):
            with contextlib.suppress(ImportError):
                importlib.import_module(ref.split(":")[0])
    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _listen(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by a worker that was killed: this one holds the lock now
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(64)
    listener.setblocking(False)
    return listener


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiln.compute._zygote")
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--key", required=True)
    parser.add_argument("--sources", type=Path, default=_SOURCES)
    parser.add_argument("--idle-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    lock = open(args.folder / f"{args.key}.lock", "a")  # noqa: SIM115 - held for its whole life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another worker for this key is starting or serving
    started = time.monotonic()
    # Before the imports: a source changed while importing makes this worker stale at once.
    stamp = sources_stamp(args.sources)
    if warm_key(dict(os.environ), stamp=stamp) != args.key:
        print("kiln warm worker: its key does not match; not serving.", file=sys.stderr)
        return 0
    _preload()
    threads = threading.active_count()
    if threads != 1:
        # A child forked now would inherit locks held by threads that do not exist in it. (The
        # native pools that start on import, OpenBLAS's and jemalloc's, have fork handlers.)
        print(f"kiln warm worker: {threads} threads after imports; not serving.", file=sys.stderr)
        return 1
    gc.collect()
    gc.freeze()  # the children do not copy the imported modules' pages when they collect
    path = args.folder / f"{args.key}.sock"
    listener = _listen(path)
    print(
        f"kiln warm worker {os.getpid()}: serving at {path} "
        f"(ready in {time.monotonic() - started:.2f} s)",
        file=sys.stderr,
        flush=True,
    )
    worker = _Worker(
        listener,
        path,
        key=args.key,
        sources=args.sources,
        stamp=stamp,
        idle_seconds=args.idle_seconds,
    )
    request = worker.serve()
    if request is None:
        return 0
    lock.close()
    _become_job(request)
    return 0


if __name__ == "__main__":
    # Run as a script this file is __main__; the worker's code is the kiln.compute module's.
    from kiln.compute import _zygote

    sys.exit(_zygote.main())
