"""Studio's pipelines API against a real server: pipelines, executions a page at a time, an
execution's DAG, and re-running it, with the 4xx answers for bad input."""

from __future__ import annotations

import pytest

DEFINITION = """
name: small
params:
  minimum: {type: int, default: 0}
steps:
  ingest: {type: ingest, source: data.csv, name: raw}
  clean:
    type: processing
    sql: SELECT * FROM raw WHERE x >= ${params.minimum}
    inputs: {raw: "${steps.ingest.data}"}
  count:
    type: processing
    sql: SELECT count(*) AS n FROM clean
    inputs: {clean: "${steps.clean.data}"}
"""


@pytest.fixture
def executed(ws, tmp_path):
    """Pipeline 'small' run once."""
    (tmp_path / "data.csv").write_text("x\n" + "".join(f"{i}\n" for i in range(8)))
    (tmp_path / "pipeline.yaml").write_text(DEFINITION)
    return ws.pipelines.run(tmp_path / "pipeline.yaml", params={"minimum": 2})


def test_pipelines_executions_and_a_dag(api_as, executed):
    viewer = api_as("viewer")
    [pipeline] = viewer.get("/pipelines").json()["items"]
    assert pipeline["ref"] == "small:1"
    assert viewer.get("/pipelines/small").json()["version"] == 1
    page = viewer.get("/pipeline-executions", params={"pipeline": "small"}).json()
    assert [e["id"] for e in page["items"]] == [executed.id] and page["total"] == 1
    graph = viewer.get(f"/pipeline-executions/{executed.id}").json()
    assert [n["name"] for n in graph["nodes"]] == ["ingest", "clean", "count"]
    assert graph["edges"] == [["ingest", "clean"], ["clean", "count"]]
    assert graph["execution"]["status"] == "Completed"


def test_bad_pipeline_input_is_refused(api_as, ws, executed):
    viewer = api_as("viewer")
    unknown = viewer.get("/pipelines/nope")
    assert unknown.status_code == 404 and "small" in unknown.json()["detail"]
    assert viewer.get("/pipeline-executions", params={"pipeline": "nope"}).status_code == 404
    bad = viewer.get("/pipeline-executions", params={"status": "done"})
    assert bad.status_code == 400 and "InProgress" in bad.json()["detail"]
    assert viewer.get("/pipeline-executions/pipe-000000000000").status_code == 404
    job = ws.jobs.create("training", {})
    other = viewer.get(f"/pipeline-executions/{job.id}")
    assert other.status_code == 400 and other.json()["error"] == "pipeline.not-an-execution"


def test_a_rerun_needs_a_scientist_is_audited_and_starts_a_new_execution(api_as, ws, executed):
    refused = api_as("viewer").post(f"/pipeline-executions/{executed.id}/rerun", json={})
    assert refused.status_code == 403 and refused.json()["role_needed"] == "scientist"
    answer = api_as("scientist").post(
        f"/pipeline-executions/{executed.id}/rerun", json={"reason": "again"}
    )
    assert answer.status_code == 202
    new = answer.json()["execution"]
    assert new != executed.id
    assert ws.jobs.wait(new, timeout=60).spec["params"] == {"minimum": 2}
    event = ws.audit.page(action="pipeline.rerun", outcome="ok").items[0]
    assert event.detail["execution"] == new and event.reason == "again"
    assert (
        api_as("scientist").post("/pipeline-executions/pipe-0000000000/rerun", json={}).status_code
        == 404
    )
