"""Studio's data, experiments and search API: paged lists, a version's facts, first rows,
profile and lineage, the SQL box, and the 4xx answers for bad input."""

from __future__ import annotations

import pytest


@pytest.fixture
def ws(experimented_copy):
    """Churn ingested and two runs of experiment 'baseline' (tests/studio/conftest.py)."""
    return experimented_copy


def test_data_sets_are_listed_a_page_at_a_time(api_as):
    viewer = api_as("viewer")
    page = viewer.get("/data", params={"sort": "-rows", "limit": 2}).json()
    assert page["total"] == 4 and page["sort"] == "-rows" and len(page["items"]) == 2
    assert page["items"][0]["name"] == "churn" and page["items"][0]["row_count"] == 7043
    found = viewer.get("/data", params={"q": "_tra"}).json()
    assert [item["ref"] for item in found["items"]] == ["churn_train:1"]
    versions = viewer.get("/data/churn/versions").json()
    assert [item["version"] for item in versions["items"]] == [1]


def test_a_version_shows_its_facts_rows_lineage_and_profile(api_as, ws):
    viewer = api_as("viewer")
    version = viewer.get("/data/churn/1").json()
    assert version["ref"] == "churn:1" and len(version["digest"]) == 64
    assert {"name": "tenure", "type": "numeric"}.items() <= version["schema"]["columns"][5].items()
    assert version["profiles"] == []
    head = viewer.get("/data/churn/1/head", params={"n": 3}).json()
    assert head["columns"][0] == "churn" and len(head["rows"]) == 3
    graph = viewer.get("/data/churn/1/lineage").json()
    made = {node["label"] for node in graph["nodes"] if node["level"] > 0}
    assert {"churn_train:1", "churn_test:1"} <= made
    missing = viewer.get("/data/churn/1/profile")
    assert missing.status_code == 404 and missing.json()["error"] == "data.no-profile"

    ws.profile("churn:1", model=False)
    assert viewer.get("/data/churn/1").json()["profiles"][0]["target"] is None
    report = viewer.get("/data/churn/1/profile")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    policy = report.headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts") and "'unsafe-inline'" in policy
    # plotly.js inline again: the sandboxed frame cannot fetch a file beside the page
    assert 'data-kiln-library="plotly"' in report.text and '<script src="plotly-' not in report.text


def test_unknown_data_sets_and_versions_answer_404(api_as):
    viewer = api_as("viewer")
    for path, code in (
        ("/data/nope/versions", "data.unknown-dataset"),
        ("/data/nope/1", "data.unknown-dataset"),
        ("/data/churn/9", "data.unknown-version"),
        ("/data/churn/9/head", "data.unknown-version"),
        ("/data/churn/9/lineage", "data.unknown-version"),
    ):
        answer = viewer.get(path)
        assert answer.status_code == 404 and answer.json()["error"] == code, path
    assert viewer.get("/data/churn/one").status_code == 422


def test_bad_paging_and_sorting_answer_400(api_as):
    viewer = api_as("viewer")
    answer = viewer.get("/data", params={"sort": "size"})
    assert answer.status_code == 400 and answer.json()["error"] == "page.bad-sort"
    assert "name, created_at, rows" in answer.json()["detail"]
    assert viewer.get("/data", params={"limit": 501}).json()["error"] == "page.bad-limit"
    runs = viewer.get("/experiments/baseline/runs", params={"sort": "metric.nope"})
    assert runs.status_code == 400 and "metric.roc_auc" in runs.json()["detail"]


def test_the_query_box_pages_rows_and_explains_a_failing_query(api_as):
    viewer = api_as("viewer")
    sql = "SELECT contract, count(*) AS n FROM churn GROUP BY contract ORDER BY contract;"
    page = viewer.post("/data/query", json={"sql": sql, "limit": 2, "offset": 1}).json()
    assert page["columns"] == ["contract", "n"] and page["total"] == 3
    assert page["items"] == [["One year", 1473], ["Two year", 1695]]
    bad = viewer.post("/data/query", json={"sql": "SELECT nope FROM churn"})
    assert bad.status_code == 400 and bad.json()["error"] == "data.bad-query"
    assert '"nope"' in bad.json()["detail"] and "Known data sets: churn" in bad.json()["detail"]
    outside = viewer.post("/data/query", json={"sql": "SELECT * FROM read_csv('/etc/passwd')"})
    assert outside.status_code == 422 and outside.json()["error"] == "data.external-access"
    assert viewer.post("/data/query", json={"sql": " ; "}).json()["error"] == "data.bad-query"
    assert viewer.post("/data/query", json={}).status_code == 422


def test_experiments_and_their_runs_sort_by_metrics_and_parameters(api_as):
    viewer = api_as("viewer")
    listed = viewer.get("/experiments").json()
    assert listed["items"][0]["name"] == "baseline" and listed["items"][0]["runs"] == 2
    assert viewer.get("/experiments/baseline").json()["best"]["metric"] == "roc_auc"
    runs = viewer.get("/experiments/baseline/runs", params={"sort": "-metric.roc_auc"}).json()
    scores = [run["metrics"]["roc_auc"] for run in runs["items"]]
    assert scores == sorted(scores, reverse=True) and runs["sort"] == "-metric.roc_auc"
    assert "roc_auc" in runs["metrics"] and {"n_estimators", "penalty"} <= set(runs["params"])
    by_trees = viewer.get("/experiments/baseline/runs", params={"sort": "-param.n_estimators"})
    assert by_trees.json()["items"][0]["algorithm"] == "lightgbm"
    assert all(run["split"] == "validation" for run in runs["items"])
    missing = viewer.get("/experiments/nope/runs")
    assert missing.status_code == 404 and missing.json()["error"] == "experiments.unknown"


def test_search_finds_records_by_name_id_and_reference(api_as, ws):
    viewer = api_as("viewer")
    job = ws.jobs.list(experiment="baseline")[0]
    found = viewer.get("/search", params={"q": "churn"}).json()["results"]
    assert "churn:1" in [hit["ref"] for hit in found["datasets"]]
    assert found["model_groups"] == [{"name": "churn", "href": "#/models/churn"}]
    by_id = viewer.get("/search", params={"q": job.id[:10]}).json()["results"]
    assert by_id["jobs"][0]["href"] == f"#/jobs/{job.id}"
    by_ref = viewer.get("/search", params={"q": "churn:2"}).json()["results"]
    assert by_ref["model_versions"][0]["href"] == "#/models/churn/2" and by_ref["datasets"] == []
    empty = viewer.get("/search", params={"q": "  "})
    assert empty.status_code == 400 and empty.json()["error"] == "search.empty-query"
    assert viewer.get("/search", params={"q": "x", "limit": 0}).status_code == 400


def test_lists_need_a_signed_in_user(studio):
    import httpx

    answer = httpx.get(f"{studio.url}/api/data")
    assert answer.status_code == 401 and answer.json()["error"] == "studio.not-signed-in"
    assert httpx.post(f"{studio.url}/api/data/query", json={"sql": "SELECT 1"}).status_code == 401
