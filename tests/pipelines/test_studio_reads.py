"""What Studio reads of pipelines: a page of executions (of one pipeline, or all), an
execution's DAG with each step's status and cache hits, and a re-run of an execution."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError, NotFound

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
  summary:
    type: processing
    sql: SELECT max(x) AS top FROM raw
    inputs: {raw: "${steps.ingest.data}"}
    after: [count]
"""


@pytest.fixture
def small(tmp_path):
    """A four-step pipeline's definition file, with its data."""
    (tmp_path / "data.csv").write_text("x\n" + "".join(f"{i}\n" for i in range(8)))
    path = tmp_path / "pipeline.yaml"
    path.write_text(DEFINITION)
    return path


def test_an_executions_dag_has_every_step_its_edges_status_and_cache_hits(ws, small):
    first = ws.pipelines.run(small)
    graph = ws.pipelines.graph(first.id)
    assert [n["name"] for n in graph["nodes"]] == ["ingest", "clean", "count", "summary"]
    assert sorted(graph["edges"]) == [
        ["clean", "count"],
        ["count", "summary"],
        ["ingest", "clean"],
        ["ingest", "summary"],
    ]
    assert {n["status"] for n in graph["nodes"]} == {"Completed"}
    assert not any(n["cached"] for n in graph["nodes"])
    assert graph["pipeline"] == "small" and graph["version"] == 1
    second = ws.pipelines.run(small)
    cached = ws.pipelines.graph(second.id)["nodes"]
    assert [n["cached"] for n in cached] == [True, True, True, True]
    assert cached[0]["cached_from"] == first.step("ingest").id
    with pytest.raises(NotFound):
        ws.pipelines.graph("pipe-000000000000")


def test_a_page_of_executions_is_newest_first_and_by_pipeline(ws, small):
    first = ws.pipelines.run(small)
    second = ws.pipelines.run(small, params={"minimum": 3})
    ws.jobs.create("training", {"pipeline": "small"})  # not an execution
    page = ws.pipelines.executions_page("small")
    assert [e.id for e in page.items] == [second.id, first.id] and page.total == 2
    assert ws.pipelines.executions_page().total == 2
    assert ws.pipelines.executions_page("small", status="failed").total == 0
    with pytest.raises(NotFound):
        ws.pipelines.executions_page("nope")
    with pytest.raises(ConfigError):
        ws.pipelines.executions_page(sort="spec")


def test_a_rerun_starts_a_new_execution_of_the_same_version_and_parameters(ws, small):
    first = ws.pipelines.run(small, params={"minimum": 3})
    again = ws.pipelines.rerun(first.id)
    assert again.id != first.id
    done = ws.pipelines.execution(ws.jobs.wait(again.id, timeout=60).id)
    assert done.status == "Completed" and done.job.spec["params"] == {"minimum": 3}
    assert done.job.spec["trigger"] == f"re-run of {first.id}"
    assert {s.status for s in done.steps} == {"Cached"}
    fresh = ws.pipelines.rerun(first.id, no_cache=True)
    ws.jobs.wait(fresh.id, timeout=60)
    assert {s.status for s in ws.pipelines.execution(fresh.id).steps} == {"Completed"}
    job = ws.jobs.create("training", {})
    with pytest.raises(ConfigError) as e:
        ws.pipelines.rerun(job.id)
    assert e.value.code == "pipeline.not-an-execution"
