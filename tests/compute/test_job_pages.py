"""What Studio reads of jobs: a page of job summaries (filters, sorts, no spec or result), pages
of a job's log (tail, before, after), metric series thinned for a chart, and the cached report
path."""

from __future__ import annotations

import pytest

from kiln.compute import JobSummary
from kiln.errors import ConfigError, NotFound


@pytest.fixture
def jobs(ws):
    """Three training jobs (one a child of the first) and a transform job, the newest last."""
    first = ws.jobs.create("training", {"data": "churn"}, experiment="exp")
    child = ws.jobs.create("training", {"trial": 1}, parent_id=first.id)
    other = ws.jobs.create("transform", {"model": "churn:1"})
    ws.jobs.finish(child.id, "Failed", failure_reason="boom")
    ws.jobs.finish(other.id, "Completed", result={"rows": 3})
    return first, child, other


def test_a_page_of_jobs_is_newest_first_and_carries_no_spec_or_result(ws, jobs):
    first, child, other = jobs
    page = ws.jobs.page()
    assert [job.id for job in page.items] == [other.id, child.id, first.id]
    assert page.total == 3 and page.sort == "-created_at"
    assert all(isinstance(job, JobSummary) for job in page.items)
    row = page.to_dict()["items"][0]
    assert "spec" not in row and "result" not in row
    assert row["status"] == "Completed" and row["duration_seconds"] is not None


def test_a_page_of_jobs_filters_and_sorts(ws, jobs):
    first, child, other = jobs
    assert [j.id for j in ws.jobs.page(kind="transform").items] == [other.id]
    assert [j.id for j in ws.jobs.page(status="failed").items] == [child.id]
    assert [j.id for j in ws.jobs.page(parent_id=first.id).items] == [child.id]
    assert {j.id for j in ws.jobs.page(top_level=True).items} == {first.id, other.id}
    assert [j.id for j in ws.jobs.page(experiment="exp").items] == [first.id]
    assert [j.id for j in ws.jobs.page(q="transf").items] == [other.id]
    assert [j.id for j in ws.jobs.page(q=other.id[-6:]).items] == [other.id]
    assert [j.id for j in ws.jobs.page(spec={"data": "churn"}).items] == [first.id]
    assert ws.jobs.page(spec={"data": "other"}).total == 0
    assert [j.status for j in ws.jobs.page(sort="status").items] == [
        "Completed",
        "Failed",
        "Pending",
    ]
    two = ws.jobs.page(limit=2, offset=2)
    assert two.total == 3 and [j.id for j in two.items] == [first.id]


def test_a_page_of_jobs_refuses_bad_filters_naming_the_allowed_values(ws, jobs):
    allowed = "Sort by one of: id, created_at, started_at, status, kind"
    with pytest.raises(ConfigError, match=allowed) as e:
        ws.jobs.page(sort="spec")
    assert e.value.code == "page.bad-sort"
    with pytest.raises(ConfigError, match="a job is Pending, InProgress") as e:
        ws.jobs.page(status="done")
    assert e.value.code == "jobs.bad-status"
    with pytest.raises(ConfigError, match="Known kinds:.*training") as e:
        ws.jobs.page(kind="nope")
    assert e.value.code == "compute.unknown-job-kind"


def test_log_pages_read_the_tail_earlier_lines_and_new_ones(ws):
    job = ws.jobs.create("training", {})
    ws.jobs.context(job.id).log("\n".join(f"line {i}" for i in range(50)))
    tail = ws.jobs.log_page(job.id, tail=10)
    assert [m for *_, m in tail.lines] == [f"line {i}" for i in range(40, 50)]
    assert tail.earlier is True
    before = ws.jobs.log_page(job.id, before=tail.lines[0][0], limit=30)
    assert [m for *_, m in before.lines] == [f"line {i}" for i in range(10, 40)]
    assert before.earlier is True
    start = ws.jobs.log_page(job.id, before=before.lines[0][0], limit=30)
    assert [m for *_, m in start.lines] == [f"line {i}" for i in range(10)]
    assert start.earlier is False
    after = ws.jobs.log_page(job.id, after=tail.lines[-3][0])
    assert [m for *_, m in after.lines] == ["line 48", "line 49"]
    shown = after.to_dict()
    assert shown["last"] == tail.lines[-1][0] and shown["lines"][0]["level"] == "INFO"
    assert ws.jobs.log_page(job.id, after=tail.lines[-1][0]).to_dict()["lines"] == []


def test_log_pages_refuse_a_bad_size_or_two_positions(ws):
    job = ws.jobs.create("training", {})
    with pytest.raises(ConfigError, match="from 1 to 5000. Got 0") as e:
        ws.jobs.log_page(job.id, tail=0)
    assert e.value.code == "jobs.bad-log-page" and e.value.field == "tail"
    with pytest.raises(ConfigError, match="not several"):
        ws.jobs.log_page(job.id, after=1, tail=5)
    with pytest.raises(NotFound):
        ws.jobs.log_page("train-000000000000", tail=5)


def test_metric_series_are_thinned_to_max_points_keeping_the_ends(ws):
    job = ws.jobs.create("training", {})
    context = ws.jobs.context(job.id)
    context.log_metric_series("loss", [1 / (i + 1) for i in range(10_000)])
    context.log_metric_series("auc", [0.5, 0.7, 0.8])
    series = ws.jobs.metric_series(job.id, max_points=100)
    loss = series["loss"]
    assert len(loss["steps"]) == 100 and loss["points"] == 10_000
    assert loss["steps"][0] == 1 and loss["steps"][-1] == 10_000
    assert loss["values"][0] == 1.0 and loss["steps"] == sorted(loss["steps"])
    assert series["auc"] == {"steps": [1, 2, 3], "values": [0.5, 0.7, 0.8], "points": 3}
    with pytest.raises(ConfigError, match="Got 1") as e:
        ws.jobs.metric_series(job.id, max_points=1)
    assert e.value.code == "jobs.bad-max-points"


def test_a_kind_without_reports_has_no_report_path(ws):
    job = ws.jobs.create("transform", {})
    ws.jobs.finish(job.id, "Completed", result={})
    assert ws.jobs.has_report(ws.jobs.get(job.id)) is False
    with pytest.raises(NotFound, match="transform job, which has no report") as e:
        ws.jobs.report_path(job.id)
    assert e.value.code == "jobs.no-report"
    assert "training" in ws.jobs.kinds()


def test_a_training_report_is_written_once_and_then_read(trained_copy):
    ws, result = trained_copy
    job = ws.jobs.get(result.job.id)
    assert ws.jobs.has_report(job)
    path = ws.jobs.report_path(job.id)
    assert path.read_text().lstrip().lower().startswith("<!doctype html")
    written = path.stat().st_mtime_ns
    assert ws.jobs.report_path(job.id) == path and path.stat().st_mtime_ns == written
