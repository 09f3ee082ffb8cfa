"""benchmarks/ui_seed.py at a tiny size: the seeded workspace opens, its rows hang together as
a trained workspace's do, and a second call with the same sizes reuses it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[2] / "benchmarks" / "ui_seed.py"


@pytest.fixture(scope="module")
def ui_seed():
    spec = importlib.util.spec_from_file_location("kiln_bench_ui_seed", SEED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIZES = dict(jobs=300, versions=40, datasets=25, audit=50, users=5, log_lines=500, metric_points=90)


def test_seeded_workspace_reads_through_the_sdk(ui_seed, tmp_path):
    import kiln
    from kiln.store import JobRow, LineageRow, ModelVersionRow

    manifest = ui_seed.seed(tmp_path / "ws", **SIZES)
    assert manifest["reused"] is False
    assert manifest["sqlite_bytes"] > 0
    ws = kiln.Workspace(tmp_path / "ws")
    try:
        assert ws.jobs.list(limit=None, status="Completed")
        with ws.store.read() as session:
            jobs = {row.id: row for row in session.query(JobRow)}
            versions = list(session.query(ModelVersionRow))
            edges = session.query(LineageRow).count()
        assert len(jobs) == SIZES["jobs"]
        assert {job.status for job in jobs.values()} <= {"Completed", "Failed", "Stopped"}
        assert len(versions) == SIZES["versions"]
        assert edges == 2 * SIZES["versions"]
        for version in versions:
            job = jobs[version.job_id]
            assert (job.kind, job.status) == ("training", "Completed")
            assert job.result["model_version_id"] == version.id
        for job in jobs.values():
            if job.parent_id is not None:
                assert jobs[job.parent_id].kind == "tuning"
        assert len({(v.group, v.version) for v in versions}) == SIZES["versions"]
        first = ws.models.get(f"{manifest['group']}:1")
        assert first.job_id in jobs
        assert len(ws.data.list()) == -(-SIZES["datasets"] // 20)

        big = ws.jobs.get(manifest["big_job"])
        assert big.kind == "training"
        assert big.id == ws.jobs.list(limit=1)[0].id  # the newest job
        assert len(ws.jobs.logs(big.id)) == SIZES["log_lines"]
        series = ws.jobs.metrics(big.id)
        assert sum(len(points) for points in series.values()) == SIZES["metric_points"]
        assert ws.audit.page().total == SIZES["audit"]
        assert ws.users.page().total == SIZES["users"]
    finally:
        ws.close()


def test_same_sizes_reuse_the_workspace_and_other_sizes_seed_again(ui_seed, tmp_path):
    first = ui_seed.seed(tmp_path / "ws", **SIZES)
    again = ui_seed.seed(tmp_path / "ws", **SIZES)
    assert again["reused"] is True
    assert again["big_job"] == first["big_job"]
    bigger = ui_seed.seed(tmp_path / "ws", **{**SIZES, "jobs": 301})
    assert bigger["reused"] is False
    assert bigger["sizes"]["jobs"] == 301


def test_bad_sizes_are_refused(ui_seed, tmp_path):
    with pytest.raises(ValueError, match="needs a training job"):
        ui_seed.seed(tmp_path / "ws", **{**SIZES, "jobs": 10, "versions": 20})
    assert not (tmp_path / "ws").exists()
