from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHURN_CSV = ROOT / "examples" / "churn" / "telco_churn.csv"
FIXTURES = Path(__file__).parent / "fixtures"

from helpers import free_port  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    for name in (
        "KILN_HOME",
        "KILN_STORE_URL",
        "KILN_ARTIFACTS_URL",
        "KILN_EXECUTOR",
        "KILN_PII_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ws(tmp_path):
    import kiln

    workspace = kiln.Workspace.init(tmp_path / "ws")
    yield workspace
    workspace.close()


@pytest.fixture(scope="session")
def churn_csv() -> Path:
    return CHURN_CSV


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A workspace with churn ingested, a LightGBM model trained and deployed to 'churn'."""
    import kiln

    home = tmp_path_factory.mktemp("trained") / "ws"
    workspace = kiln.Workspace.init(home)
    workspace.data.ingest(CHURN_CSV, name="churn")
    result = workspace.train(
        "churn", target="churn", algorithm="lightgbm", hyperparameters={"n_estimators": 60}
    )
    workspace.endpoints.deploy(result.model.ref, endpoint="churn")
    return workspace, result


@pytest.fixture(scope="session")
def server(trained):
    """A real 'kiln serve' on a free loopback port, for the trained workspace."""
    workspace, _ = trained
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiln",
            "--home",
            str(workspace.home),
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode())
    else:
        process.kill()
        raise RuntimeError("kiln serve did not start")
    yield url
    process.terminate()
    process.wait(timeout=10)
