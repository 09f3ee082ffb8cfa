"""The Makefile's install steps, run against a stand-in virtual environment whose python and kiln
only record how they were called: the quickstart installs kiln alone, the tests add the dev
extras, and neither installs again what the other already did; the test target runs the
parallel suite, then the solo tests alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def venv(tmp_path) -> Path:
    """A folder that passes for the virtual environment; its programs log their arguments."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for program in ("python", "kiln", "ruff"):
        script = venv / "bin" / program
        script.write_text(f'#!/bin/sh\necho "{program} $*" >> "{tmp_path}/calls"\n')
        script.chmod(0o755)
    return venv


def make(target: str, venv: Path) -> list[str]:
    """The calls of the venv's programs that ``make target`` made."""
    calls = venv.parent / "calls"
    calls.unlink(missing_ok=True)
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), target, f"VENV={venv}"],
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
    )
    return calls.read_text().splitlines() if calls.exists() else []


def installs(calls: list[str]) -> list[str]:
    return [c for c in calls if "pip install" in c and "--upgrade pip" not in c]


def test_quickstart_installs_kiln_without_the_dev_extras_and_test_adds_them(venv):
    calls = make("quickstart", venv)
    assert installs(calls) == ["python -m pip install --quiet -e ."]
    assert calls[-1] == "kiln quickstart"
    assert installs(make("lint", venv)) == ["python -m pip install --quiet -e .[dev]"]
    assert installs(make("quickstart", venv)) == [] and installs(make("lint", venv)) == []


def test_after_the_dev_extras_the_quickstart_installs_nothing(venv):
    assert installs(make("lint", venv)) == ["python -m pip install --quiet -e .[dev]"]
    assert installs(make("quickstart", venv)) == []


def test_make_test_runs_the_parallel_suite_then_the_solo_tests_alone(venv):
    runs = [c.split()[3:] for c in make("test", venv) if c.startswith("python -m pytest")]
    assert len(runs) == 2
    parallel, solo = runs
    # 'not solo' reaches the stand-in python as two words: it logs "$*".
    assert "-n" in parallel and parallel[parallel.index("-m") + 1 : parallel.index("-m") + 3] == [
        "not",
        "solo",
    ]
    # Work stealing, not whole files per worker: one long test at the end of a file would
    # otherwise keep the rest of its file waiting on one core while the other idles.
    assert parallel[parallel.index("--dist") + 1] == "worksteal"
    assert "-n" not in solo and solo[solo.index("-m") + 1 :][:1] == ["solo"]


def test_the_licence_is_an_spdx_expression_setuptools_reads_without_a_warning():
    from setuptools.config.pyprojecttoml import read_configuration

    assert isinstance(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"], str
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = read_configuration(ROOT / "pyproject.toml")
    assert config["project"]["license"] == "Apache-2.0"


@pytest.mark.parametrize("installed", [False, True])
def test_make_test_installs_postgresql_as_root_only_when_it_is_missing(venv, tmp_path, installed):
    # Stand-ins on PATH: 'id' says root, 'apt-get' records its calls instead of installing.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "apt-get $*" >> "{tmp_path}/calls"\n')
    for program in ("id", "apt-get"):
        (bin_dir / program).chmod(0o755)
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "test", f"VENV={venv}",
         f"PG_INITDB={'/usr/lib/postgresql/15/bin/initdb' if installed else ''}"],
        check=True, capture_output=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
             "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )  # fmt: skip
    calls = (tmp_path / "calls").read_text().splitlines()
    apt = [c for c in calls if c.startswith("apt-get")]
    if installed:
        assert apt == []
    else:
        assert apt[-1].split()[-1] == "postgresql" and "install" in apt[-1]
        # before the suite runs
        assert calls.index(apt[-1]) < next(i for i, c in enumerate(calls) if "pytest" in c)
