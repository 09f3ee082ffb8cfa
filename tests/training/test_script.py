"""Training scripts (``kiln train --script``): a user's train(run) runs as a job on data set
versions, and the model it returns is registered, deployed and served like any other."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kiln.errors import ConfigError, KilnError
from kiln.serving import create_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom" / "train_churn.py"


@pytest.fixture
def small(ws, churn_csv, tmp_path):
    """A workspace with 300 rows of churn."""
    path = tmp_path / "churn.csv"
    pd.read_csv(churn_csv).head(300).to_csv(path, index=False)
    ws.data.ingest(path, name="churn")
    return ws


def test_the_example_script_registers_a_model_that_serves(small, run_cli):
    ws = small
    run = run_cli(
        "train", "--script", str(EXAMPLE), "--data", "churn", "--target", "churn", "--hp", "C=0.5",
        home=ws.home, check=True,
    )  # fmt: skip
    assert "test_roc_auc" in run.stdout and "churn:1" in run.stdout
    model = ws.models.get("churn:1")
    assert model.algorithm == "script:train_churn.py" and model.hyperparameters == {"C": "0.5"}
    assert 0.5 < model.metrics["script"]["test_roc_auc"] <= 1
    assert model.details["script"]["path"] == str(EXAMPLE)
    inputs = [c["name"] for c in model.signature["inputs"]]
    assert "churn" not in inputs and "tenure" in inputs
    job = ws.jobs.get(model.job_id)
    assert job.kind == "script" and "def train(run)" in job.spec["source"]
    assert [v for _, v in ws.jobs.metrics(job.id)["test_roc_auc"]] == [
        model.metrics["script"]["test_roc_auc"]
    ]
    upstream = ws.lineage.graph("model:churn:1", downstream=False, depth=2)
    assert "churn:1" in {n.label for n in upstream.nodes.values() if n.kind == "dataset_version"}

    shown = run_cli("models", "show", "churn:1", home=ws.home, check=True).stdout
    assert "script:train_churn.py" in shown and "test_roc_auc" in shown
    report = ws.report(job.id)
    page = report.path.read_text()
    assert "def train(run)" in page and "test_roc_auc" in page and "Fitted on 225 rows" in page
    ws.endpoints.deploy("churn:1", endpoint="scripted", allow_unapproved=True)
    rows = ws.data.load("churn:1").drop(columns=["churn"]).head(2)
    body = rows.astype(object).where(rows.notna(), None).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        answer = client.post("/endpoints/scripted/invocations", json=body).json()
    assert [set(p) for p in answer["predictions"]] == [{"label", "probabilities"}] * 2


def test_a_script_that_raises_fails_the_job_with_its_traceback(small, tmp_path):
    ws = small
    ws.data.ingest(ws.data.load("churn:1").head(20), name="extra")
    script = tmp_path / "broken.py"
    script.write_text(
        "def train(run):\n    names = sorted(run.data)\n    raise ValueError(names)\n"
    )
    with pytest.raises(KilnError, match=r"raised ValueError: \['churn', 'extra'\]") as failed:
        ws.train(["churn", "extra"], script=script, target="churn")
    assert failed.value.code == "script.failed"
    assert f'File "{script}", line 3, in train' in str(failed.value)
    job = ws.jobs.get(failed.value.job_id)
    assert job.status == "Failed" and job.failure_code == "script.failed"
    assert ws.models.list() == []


def test_a_script_that_returns_no_model_is_refused(small, tmp_path):
    script = tmp_path / "empty.py"
    script.write_text("def train(run):\n    run.log_metric('rows', len(run.frame()))\n")
    with pytest.raises(ConfigError, match=r"train\(run\) in training script .* returned nothing"):
        small.train("churn", script=script, target="churn")
    assert small.models.list() == []


def test_a_missing_script_or_both_algorithm_and_script_are_refused(small, run_cli, tmp_path):
    missing = tmp_path / "nowhere.py"
    refused = run_cli("train", "--script", str(missing), "--data", "churn", home=small.home)
    assert refused.returncode == 2 and "script.not-found" in refused.stderr
    assert str(missing) in refused.stderr
    both = run_cli(
        "train", "--script", str(EXAMPLE), "--algorithm", "linear", "--data", "churn",
        home=small.home,
    )  # fmt: skip
    assert both.returncode == 2 and "Give --algorithm or --script" in both.stderr
    mixed = run_cli(
        "train", "--script", str(EXAMPLE), "--data", "churn", "--validation", "kfold:3",
        home=small.home,
    )  # fmt: skip
    assert mixed.returncode == 2 and "--validation do not apply to --script" in mixed.stderr
    assert small.jobs.list(limit=None) == []


def test_a_script_that_is_not_utf8_is_refused_before_any_job(ws, tmp_path):
    script = tmp_path / "latin.py"
    script.write_bytes(b"def train(run):\n    return 'caf\xe9'\n")
    with pytest.raises(ConfigError) as caught:
        ws.train("churn", script=script, target="churn")
    assert caught.value.code == "script.syntax-error" and "0xe9" in caught.value.message
    assert ws.jobs.list(limit=None) == []


def test_an_algorithm_only_option_with_a_script_is_refused_in_the_sdk(ws):
    with pytest.raises(ConfigError) as caught:
        ws.train("churn", script=EXAMPLE, target="churn", problem="churn", require=["f1 > 0"])
    assert caught.value.code == "script.bad-option"
    assert caught.value.message.startswith("problem, require: not options of a training script")
