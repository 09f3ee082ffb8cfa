"""Helpers shared by the tests: free ports, running the real CLI, reading report pages."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_kiln(
    *args: str,
    home: Path | None = None,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float = 180,
) -> subprocess.CompletedProcess:
    """Run the real CLI (``python -m kiln``) in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env["COLUMNS"] = "200"
    command = [sys.executable, "-m", "kiln"]
    if home is not None:
        command += ["--home", str(home)]
    result = subprocess.run(
        command + list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"kiln {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def start_kiln(
    *args: str,
    home: Path,
    log: Path,
    new_session: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start the real CLI (``python -m kiln``) without waiting, its output going to ``log``.

    ``new_session``: in a process group of its own, so a test can signal the CLI with every
    process it started (``os.killpg``) and nothing of pytest's."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    environment.update(env or {})
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kiln", "--home", str(home), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=new_session,
        )


def wait_for(condition: Callable[[], object], *, timeout: float = 120, what: str = "it"):
    """Poll ``condition`` until it returns something true, and return that; fail after
    ``timeout`` seconds (generous: the suite shares a few cores)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}.")
        time.sleep(0.05)


def plotly_figures(page: str) -> list:
    """The figures a report page draws: ``[id, traces, layout]`` for each."""
    match = re.search(r"var F = (\[.*?\]);\n", page, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))
