import json

import pytest

from conftest import CHURN_CSV
from kiln.errors import NotFound


def test_experiments_group_runs_and_compare_them(ws, tmp_path, run_cli):
    ws.data.ingest(CHURN_CSV, name="churn")
    for algorithm in ("linear", "lightgbm"):
        ws.train(
            "churn",
            target="churn",
            algorithm=algorithm,
            experiment="baseline",
            hyperparameters={"n_estimators": 50} if algorithm == "lightgbm" else None,
        )
    ws.train("churn", target="churn", algorithm="linear", experiment="other")
    listed = {e["name"]: e for e in ws.experiments.list()}
    assert listed["baseline"]["runs"] == 2 and listed["other"]["runs"] == 1
    best = listed["baseline"]["best"]
    assert best["metric"] == "roc_auc" and best["split"] == "validation"  # never test
    frame = ws.experiments.compare("baseline")
    assert list(frame["algorithm"]) == ["linear", "lightgbm"]
    assert {"roc_auc", "hp.penalty", "hp.num_leaves"} <= set(frame.columns)
    assert best["value"] == frame["roc_auc"].max()
    report = tmp_path / "baseline.html"
    ws.experiments.report("baseline", report)
    html = report.read_text()
    assert "parcoords" in html and "Metric by run" in html and '<script src="http' not in html
    with pytest.raises(NotFound, match="baseline"):
        ws.experiments.runs("nope")

    out = json.loads(
        run_cli("experiments", "compare", "baseline", "--json", home=ws.home, check=True).stdout
    )
    assert len(out["runs"]) == 2 and out["best"]["model"] == best["model"]
    shown = run_cli("experiments", "list", home=ws.home, check=True).stdout
    assert "baseline" in shown
