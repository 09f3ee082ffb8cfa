"""``kiln endpoints capture | ground-truth | capture-ingest`` and ``capture('E')`` in
``kiln data query``."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kiln.serving import create_app


@pytest.fixture
def run_kiln(capsys):
    """The CLI in this process, returning exit status, stdout and stderr."""
    from kiln.cli import main

    def run(*args: str, home) -> subprocess.CompletedProcess:
        code = main(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_capture_ground_truth_query_and_ingest_from_the_cli(trained_copy, run_kiln, tmp_path):
    ws, result = trained_copy
    home = ws.home
    turned_on = run_kiln("endpoints", "capture", "churn", "--percent", "100", "--json", home=home)
    assert turned_on.returncode == 0, turned_on.stderr
    assert json.loads(turned_on.stdout)["capture"] == {"percent": 100.0, "format": "jsonl"}
    assert "100% (jsonl)" in run_kiln("endpoints", "show", "churn", home=home).stdout

    test = ws.data.load(result.job.result["splits"]["test"]).head(3)
    rows = test.drop(columns=["churn"]).astype(object).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        ids = [
            client.post("/endpoints/churn/invocations", json=[row]).json()["inference_id"]
            for row in rows
        ]
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"inference_id": [*ids, "unknown-id"], "label": [*test["churn"], "No"]}).to_csv(
        labels, index=False
    )
    uploaded = run_kiln("endpoints", "ground-truth", "churn", str(labels), home=home)
    assert uploaded.returncode == 0, uploaded.stderr
    assert "Stored 4 label(s) of 4 row(s)" in uploaded.stdout
    assert "1 inference id(s) are not in the capture" in uploaded.stdout
    assert "unknown-id" in uploaded.stdout

    query = run_kiln(
        "data",
        "query",
        "SELECT count(*) AS n, count(label) AS labelled FROM capture('churn')",
        "--json",
        home=home,
    )
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout) == [{"n": 3, "labelled": 3}]

    ingested = run_kiln(
        "endpoints", "capture-ingest", "churn", "--name", "feedback", "--since", "1h", home=home
    )
    assert ingested.returncode == 0, ingested.stderr
    assert "Ingested feedback:1: 3 row(s)" in ingested.stdout

    off = run_kiln("endpoints", "capture", "churn", "--percent", "0", home=home)
    assert "capture: off" in off.stdout


def test_a_bad_percentage_exits_2_naming_it(trained_copy, run_kiln):
    ws, _ = trained_copy
    refused = run_kiln("endpoints", "capture", "churn", "--percent", "150", home=ws.home)
    assert refused.returncode == 2
    assert "150" in refused.stderr + refused.stdout and "0 (off) to 100" in refused.stderr
