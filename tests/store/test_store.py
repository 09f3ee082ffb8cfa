import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

import kiln
from helpers import ON_BOTH_STORES
from kiln.store import SCHEMA_REVISION, JobRow, Store

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def test_schema_revision_constant_matches_alembic_head():
    config = Config()
    config.set_main_option(
        "script_location", str(Path(kiln.__file__).parent / "store" / "migrations")
    )
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_sqlite_runs_in_wal_mode(ws):
    with ws.store.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert ws.store.revision() == SCHEMA_REVISION


def test_old_workspace_databases_upgrade_and_read_back(tmp_path):
    for asset in sorted(ASSETS.glob("kiln_*.db")):
        home = tmp_path / asset.stem
        kiln.Workspace.init(home).close()
        shutil.copy(asset, home / "kiln.db")
        ws = kiln.Workspace(home)
        assert ws.store.revision() == SCHEMA_REVISION
        tiny = ws.data.get("tiny")
        assert tiny.row_count == 4
        revision = asset.stem[5:]
        with ws.store.read() as session:
            row = session.scalars(select(JobRow)).one()
            # 0005: a job's failure keeps its error code and class; older jobs have none.
            assert (row.failure_code, row.failure_class) == (None, None)
            # 0006: the process in charge of a job and its heartbeat; older jobs have none.
            if revision < "0006":
                assert (row.host, row.pid_created, row.heartbeat_at) == (None, None, None)
        # Each asset's job was left Pending by a process long gone: reading it finds it lost.
        job = ws.jobs.list()[0]
        assert (job.status, job.failure_code, job.failure_class) == (
            "Failed",
            "job.lost",
            "JobFailed",
        )
        logs = [m for *_, m in ws.jobs.logs(job.id)]
        assert logs[0] == f"hello from revision {revision}" and logs[1].startswith("Lost: ")
        fresh = ws.jobs.create("training", {"note": "after the upgrade"})
        ws.jobs.finish(
            fresh.id,
            "Failed",
            failure_reason="The target 'y' is not numeric.",
            failure_code="training.bad-target",
            failure_class="DataError",
        )
        failed = ws.jobs.get(fresh.id)
        assert (failed.failure_code, failed.failure_class) == ("training.bad-target", "DataError")
        ws.close()


WRITER = """
import sys
from kiln.workspace import Workspace
ws = Workspace(sys.argv[1])
for i in range(40):
    job = ws.jobs.create("training", {"writer": sys.argv[2], "i": i})
    ws.jobs.context(job.id).log(f"line {i}")
    ws.jobs.context(job.id).log_metric_series("loss", [1.0, 0.5, 0.25])
"""


@ON_BOTH_STORES
def test_concurrent_writers_from_several_processes(ws):
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(ws.home), str(n)],
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in processes]
    assert all(p.returncode == 0 for p in processes), errors
    with ws.store.read() as session:
        assert session.execute(text("SELECT count(*) FROM jobs")).scalar() == 160
        assert session.execute(text("SELECT count(*) FROM job_logs")).scalar() == 160
        assert session.execute(text("SELECT count(*) FROM job_metrics")).scalar() == 480
        if ws.store.is_sqlite:
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"


@ON_BOTH_STORES
def test_a_failed_transaction_writes_nothing(ws):
    from kiln.store import JobRow, new_id, now, who

    try:
        with ws.store.write() as session:
            session.add(
                JobRow(
                    id=new_id("t"),
                    kind="x",
                    status="Pending",
                    spec={},
                    result={},
                    created_at=now(),
                    created_by=who(),
                )
            )
            session.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert ws.jobs.list() == []


def test_unknown_store_url_is_a_config_error():
    import pytest

    from kiln.errors import ConfigError

    with pytest.raises(ConfigError, match="KILN_STORE_URL"):
        Store("nosuchdialect://x")


def _schema_differences(url: str) -> list:
    """What alembic's autogenerate finds between the migrated database and the tables kiln's
    code declares (kiln.store._tables): nothing, when the migrations build that schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from kiln.store._tables import Base

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migrations_build_from_empty_the_schema_the_code_declares(dialect, request, tmp_path):
    if dialect == "postgresql":
        # The plain postgresql:// form: kiln reads it as the psycopg 3 driver.
        url = request.getfixturevalue("postgres_url").replace("postgresql+psycopg", "postgresql")
    else:
        url = f"sqlite:///{tmp_path / 'kiln.db'}"
    store = Store(url)
    assert store.revision() is None  # empty: no tables yet
    store.upgrade()
    assert store.revision() == SCHEMA_REVISION
    store.dispose()
    assert _schema_differences(store.url) == []


def test_an_unreachable_postgresql_url_fails_fast_naming_it_without_its_password(
    tmp_path, run_cli, monkeypatch
):
    from helpers import free_port
    from kiln.errors import ConfigError

    url = f"postgresql://kiln:s3cret-pw@127.0.0.1:{free_port()}/kiln"  # nothing listens there
    with pytest.raises(ConfigError) as info:
        kiln.Workspace.init(tmp_path / "ws", store_url=url)
    assert info.value.code == "store.unavailable"
    message = info.value.message
    assert "s3cret-pw" not in message
    assert url.replace("s3cret-pw", "***") in message and "KILN_STORE_URL" in message

    monkeypatch.setenv("KILN_STORE_URL", url)
    done = run_cli("jobs", "list", home=tmp_path / "ws")
    assert done.returncode != 0 and "store.unavailable" in done.stdout + done.stderr
    assert "s3cret-pw" not in done.stdout + done.stderr


def test_kiln_init_shows_the_store_url_without_its_password(
    postgres_template_url, run_cli, tmp_path, monkeypatch
):
    # The test server trusts loopback: any password is accepted, and none may be shown.
    url = postgres_template_url.replace("postgres@", "postgres:s3cret-pw@")
    monkeypatch.setenv("KILN_STORE_URL", url)
    done = run_cli("init", "--json", home=tmp_path / "ws", check=True)
    assert json.loads(done.stdout)["store_url"] == url.replace("s3cret-pw", "***")
