"""KILN_REQUIRE_SERVICES=1 turns a skip into a failure; without it a skip stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _run(tmp_path, required: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\ndef test_needs_a_server():\n    pytest.skip('no server here')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop("KILN_REQUIRE_SERVICES", None)
    if required:
        env["KILN_REQUIRE_SERVICES"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "require_services", "-p", "no:cacheprovider",
         "-p", "no:xdist", str(tmp_path / "test_skips.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_skip_fails_when_services_are_required(tmp_path):
    done = _run(tmp_path, required=True)
    assert done.returncode == 1, done.stdout
    assert "1 failed" in done.stdout and "no server here" in done.stdout


def test_a_skip_stays_a_skip_otherwise(tmp_path):
    done = _run(tmp_path, required=False)
    assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout
