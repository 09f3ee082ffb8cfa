from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHURN_CSV = ROOT / "examples" / "churn" / "telco_churn.csv"
FIXTURES = Path(__file__).parent / "fixtures"
RETRAINING_EXAMPLE = ROOT / "examples" / "retraining" / "retraining_loop.py"

from helpers import free_port  # noqa: E402

pytest_plugins = ["require_services", "services"]


# The longest tests, started first: with the work-stealing split (Makefile), a long test that
# starts last keeps one core busy alone at the end of the run.
LONGEST_FIRST = ("test_docs_snippets.py::test_every_snippet_runs_as_written[README.md]",)


def pytest_collection_modifyitems(items) -> None:
    items.sort(key=lambda item: not item.nodeid.endswith(LONGEST_FIRST))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    # Each test runs in a folder of its own: the default workspace (./.kiln) and anything a
    # library drops into the current directory stay out of the repository and out of the
    # other tests' way when the suite runs in parallel (pytest -n).
    monkeypatch.chdir(tmp_path)
    for name in (
        "KILN_HOME",
        "KILN_STORE_URL",
        "KILN_ARTIFACTS_URL",
        "KILN_EXECUTOR",
        "KILN_PII_KEY",
        "KILN_JOB_HEARTBEAT_SECONDS",
        "KILN_JOB_LOST_AFTER_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ws(request, tmp_path):
    """A new workspace. By default on SQLite and a local folder; a test parametrized with
    ``ON_BOTH_STORES`` / ``ON_BOTH_ARTIFACT_STORES`` (tests/helpers.py) also runs it with the
    metadata on PostgreSQL or the artifacts in an S3 bucket, on servers on loopback."""
    import kiln

    # KILN_TEST_BACKENDS=postgresql+s3 runs every test that takes a plain ``ws`` on those.
    backends = getattr(request, "param", os.environ.get("KILN_TEST_BACKENDS", "sqlite"))
    home = tmp_path / "ws"
    settings = {}
    if "postgresql" in backends:
        settings["store_url"] = request.getfixturevalue("postgres_template_url")
    if "s3" in backends:
        settings["artifacts_url"] = request.getfixturevalue("s3_url")
    if settings:
        # In kiln.toml, as a team's workspace names them: the workspace opened again by path
        # (kiln.Workspace(home), the CLI's --home, a job's process) finds the same stores.
        home.mkdir()
        lines = [f"{name} = {value!r}" for name, value in settings.items()]
        (home / "kiln.toml").write_text("\n".join(["[kiln]", *lines, "require_approval = true\n"]))
    workspace = kiln.Workspace.init(home)
    yield workspace
    workspace.close()


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """``run_kiln`` of tests/helpers.py with the CLI in this process (``kiln.cli.main``): the
    same exit status, stdout and stderr, without a Python process's start-up per command."""
    from kiln.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # as run_kiln sets it: tables not cut short

    def run(*args: str, home: Path | None = None, check: bool = False):
        code = main([*(["--home", str(home)] if home is not None else []), *args])
        out, err = capsys.readouterr()
        if check and code != 0:
            raise AssertionError(f"kiln {' '.join(args)} exited {code}:\n{out}\n{err}")
        return subprocess.CompletedProcess(args, code, out, err)

    return run


@pytest.fixture(scope="session")
def churn_csv() -> Path:
    return CHURN_CSV


def _state(workspace) -> tuple:
    """What a test could change in a workspace: approvals, deployments and jobs."""
    return (
        sorted((v.ref, v.approval_status) for v in workspace.models.list()),
        sorted((e.name, e.revision, e.model) for e in workspace.endpoints.list()),
        len(workspace.jobs.list(limit=None)),
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A workspace with churn ingested, a LightGBM model trained and deployed to 'churn'.

    Shared by the whole session, so read-only: a test that approves, rejects, trains or deploys
    takes ``trained_copy`` (or a ``ws`` of its own) instead. Teardown checks nothing changed.
    """
    import kiln

    home = tmp_path_factory.mktemp("trained") / "ws"
    workspace = kiln.Workspace.init(home)
    workspace.data.ingest(CHURN_CSV, name="churn")
    result = workspace.train(
        "churn", target="churn", algorithm="lightgbm", hyperparameters={"n_estimators": 60}
    )
    workspace.endpoints.deploy(result.model.ref, endpoint="churn", allow_unapproved=True)
    before = _state(workspace)
    yield workspace, result
    assert _state(workspace) == before, "a test changed the shared, read-only 'trained' workspace"


def copy_workspace(workspace, home: Path):
    """A private, writable copy of a workspace (its folder copied whole), without the serving
    metrics other tests' servers recorded in the original."""
    import kiln
    from kiln.store import VariantMetricsRow

    shutil.copytree(workspace.home, home)
    copy = kiln.Workspace(home)
    with copy.store.write() as session:
        session.query(VariantMetricsRow).delete()
    return copy


@pytest.fixture
def trained_copy(trained, tmp_path):
    """A private copy of the ``trained`` workspace, for tests that change it."""
    source, result = trained
    workspace = copy_workspace(source, tmp_path / "trained_copy")
    yield workspace, result
    workspace.close()


@pytest.fixture(scope="session")
def monitored(trained, tmp_path_factory):
    """A copy of ``trained`` with monitor 'quality' on endpoint 'churn' (a calm run, then a
    drifted one) and alarm 'drifting' on it, in ALARM: built once per worker, read-only; tests
    take ``monitored_copy``."""
    import importlib.util

    from kiln.monitoring import simulate_traffic

    source, _ = trained
    ws = copy_workspace(source, tmp_path_factory.mktemp("monitored") / "ws")
    ws.endpoints.set_capture("churn", 100)
    churn = ws.data.load("churn")
    spec = importlib.util.spec_from_file_location("retraining_loop", RETRAINING_EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    ws.monitoring.create("quality", endpoint="churn", type="data-quality")
    for drift, seed in ((0.0, 1), (1.0, 2)):
        rows = simulate_traffic(churn, rows=200, drift=drift, exclude=("churn",), seed=seed)
        example.replay(ws, "churn", rows.drop(columns=["churn"]))
        ws.monitoring.run("quality")
    ws.monitoring.alarms.create("drifting", on="monitor:quality", when="drift.num_cols > 2")
    ws.monitoring.alarms.evaluate()
    yield ws
    ws.close()


@pytest.fixture
def monitored_copy(monitored, tmp_path):
    """A private copy of ``monitored``, for a test to change."""
    ws = copy_workspace(monitored, tmp_path / "monitored")
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def two_models(trained, tmp_path_factory):
    """A copy of ``trained`` with a second version (churn:2, fewer trees) and both Approved:
    read-only, like ``trained``; tests that deploy take ``two_models_copy``."""
    source, first = trained
    workspace = copy_workspace(source, tmp_path_factory.mktemp("two_models") / "ws")
    second = workspace.train(
        "churn", target="churn", algorithm="lightgbm", hyperparameters={"n_estimators": 20}
    )
    for result in (first, second):
        workspace.models.approve(result.model.ref, reason="test fixture")
    workspace.close()
    yield workspace.home, first.model.ref, second.model.ref


@pytest.fixture
def two_models_copy(two_models, tmp_path):
    """A private copy of ``two_models``: ``(workspace, "churn:1", "churn:2")``, with 'churn'
    serving churn:1 as its one variant ``primary``."""
    import kiln

    home, first, second = two_models
    workspace = copy_workspace(kiln.Workspace(home), tmp_path / "two_models")
    yield workspace, first, second
    workspace.close()


@pytest.fixture(scope="session")
def served(trained, tmp_path_factory):
    """What 'kiln serve' serves: a copy of ``trained``, so the server's tests may deploy."""
    source, result = trained
    workspace = copy_workspace(source, tmp_path_factory.mktemp("served") / "ws")
    yield workspace, result
    workspace.close()


@pytest.fixture(scope="session")
def server(served):
    """A real 'kiln serve' on a free loopback port, for the ``served`` workspace."""
    workspace, _ = served
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
