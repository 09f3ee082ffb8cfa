import html
import json
import re
import time

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, make_blobs

from conftest import FIXTURES
from helpers import report_page
from kiln.errors import ConfigError, DataError, NotFound, StateError
from kiln.evaluation import clustering_section, transformed_feature_names

COMMON = ["Summary", "Metrics", "Bias and variance", "Learning curve", "Loss by iteration"]
IMPORTANCE = ["Permutation importance", "SHAP values"]
CLASSIFICATION = ["ROC and precision-recall", "Confusion matrix", "Calibration"]
MAX_BYTES = 1_000_000  # plotly.js (4.8 MB) is a file beside the page


def check_page(path) -> str:
    """The page opens offline (plotly.js in a file beside it) and is small."""
    text = report_page(path)
    assert path.stat().st_size < MAX_BYTES
    return html.unescape(text)


def test_binary_report_has_every_section(trained, tmp_path):
    ws, result = trained
    started = time.perf_counter()
    out = ws.report(result.job.id, out=tmp_path / "churn.html")
    seconds = time.perf_counter() - started
    assert seconds < 60  # ~4 s on two cores; generous for a loaded machine
    assert out.path == tmp_path / "churn.html"
    assert out.sections == [*COMMON, *CLASSIFICATION, "Threshold analysis", *IMPORTANCE]
    text = check_page(out.path)
    for title in out.sections:
        assert f"<h2>{title}</h2>" in text
    assert result.model.ref in text and "lightgbm" in text
    assert "AUC" in text and "ECE" in text and "best F1" in text
    assert "LightGBM's own tree contributions" in text
    assert "payment_method" in text  # SHAP on the recipe's columns (codes of the categoricals)
    assert out.diagnosis["verdict"] in ("balanced", "overfitting", "underfitting")
    assert out.diagnosis["evidence"] and out.diagnosis["suggestions"]
    assert out.metrics["test"]["roc_auc"] == result.metrics["test"]["roc_auc"]
    assert "confusion_matrix" not in out.metrics["test"]
    payload = out.to_dict()
    assert set(payload) == {"report", "diagnosis", "metrics"}
    json.dumps(payload, allow_nan=False)


def test_the_report_carries_the_models_whole_approval_history(trained_copy, tmp_path):
    ws, result = trained_copy
    page = ws.report(result.job.id, out=tmp_path / "a.html", learning_curve=False)
    assert "Approval history</th><td>no decision yet" in page.path.read_text().replace("\n", "")
    ws.models.approve(result.model.ref, reason="beats the baseline")
    ws.endpoints.delete("churn")
    ws.models.reject(result.model.ref, reason="leaks the target")
    text = html.unescape(
        ws.report(result.job.id, out=tmp_path / "b.html", learning_curve=False).path.read_text()
    )
    assert re.search(r"Approved by \S+ at [\d-]+ [\d:]+ UTC: beats the baseline; Rejected by", text)
    assert "leaks the target" in text


def test_default_path_is_in_the_workspace(trained):
    ws, result = trained
    out = ws.report(result.job.id, learning_curve=False)
    assert out.path == ws.home / "reports" / f"{result.job.id}.html"
    assert "Learning curve" not in out.sections
    check_page(out.path)


def test_cli_report_json_and_text(trained, tmp_path, run_cli):
    ws, result = trained
    target = tmp_path / "out" / "r.html"
    # The learning curve (refits, the slow part) is checked in-process above; here, the CLI.
    done = run_cli(
        "jobs", "report", result.job.id, "--out", str(target), "--json", "--no-learning-curve",
        home=ws.home, check=True,
    )  # fmt: skip
    payload = json.loads(done.stdout)
    assert set(payload) == {"report", "diagnosis", "metrics"}
    assert payload["report"] == str(target)
    assert payload["diagnosis"]["verdict"] in ("balanced", "overfitting", "underfitting")
    assert payload["metrics"]["test"]["roc_auc"] == result.metrics["test"]["roc_auc"]
    check_page(target)

    # A folder as --out gets <job id>.html inside it.
    done = run_cli(
        "jobs", "report", result.job.id, "--out", str(tmp_path), "--no-learning-curve",
        home=ws.home, check=True,
    )  # fmt: skip
    assert "Report written to" in done.stdout and "Diagnosis:" in done.stdout
    check_page(tmp_path / f"{result.job.id}.html")


def test_cost_threshold_and_cross_validation(ws, churn_csv, tmp_path):
    # 2,000 customers: what is checked is which sections the report has, not the model's skill.
    ws.data.ingest(pd.read_csv(churn_csv).sample(2000, random_state=0), name="churn")
    trained = ws.train(
        "churn",
        target="churn",
        algorithm="xgboost",
        hyperparameters={"n_estimators": 40},
        validation="kfold:3",
        cost_fp=1,
        cost_fn=5,
        require=["roc_auc>=0.5"],
    )
    out = ws.report(trained.job.id, out=tmp_path / "cv.html")
    text = check_page(out.path)
    assert "Threshold analysis" in out.sections
    # The job's own threshold analysis (out-of-fold, with cost) is plotted.
    assert "expected cost per row" in text and "out-of-fold" in text
    assert f"model {trained.job.result['threshold']:.2f}" in text
    assert "XGBoost's own tree contributions" in text
    assert "fold1 validation" in text  # per-fold loss curves
    # Cross-validation refit the model on the validation split: only test is held out.
    assert "validation split (" not in text and "test split (" in text
    assert out.diagnosis["held_out_split"] == "cv_mean"
    assert "1 of 1 passed" in text


def test_regression_report(ws, tmp_path):
    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    trained = ws.train("housing", target="price", algorithm="linear")
    out = ws.report(trained.job.id, out=tmp_path / "housing.html")
    assert out.sections == [*COMMON, "Predicted against actual", "Residuals", *IMPORTANCE]
    text = check_page(out.path)
    assert "R² by training-set size" in text and "residual (actual − predicted)" in text
    # No per-iteration losses and no SHAP for a linear model: said so, not silently missing.
    assert "logged no per-iteration losses" in text
    assert "SHAP values are computed for tree models" in text
    assert out.diagnosis["metric"] == "r2"
    assert out.metrics["test"]["rmse"] == trained.metrics["test"]["rmse"]


def test_multiclass_report(ws, tmp_path):
    iris = load_iris(as_frame=True).frame
    iris["species"] = iris.pop("target").map(dict(enumerate(load_iris().target_names)))
    ws.data.ingest(iris, name="iris")
    trained = ws.train(
        "iris", target="species", algorithm="random_forest", hyperparameters={"n_estimators": 30}
    )
    out = ws.report(trained.job.id, out=tmp_path / "iris.html")
    assert out.sections == [*COMMON, *CLASSIFICATION, *IMPORTANCE]
    text = check_page(out.path)
    for label in ("setosa", "versicolor", "virginica"):
        assert f"{label} (AUC" in text
    assert "each class against the rest" in text
    assert "shap.TreeExplainer" in text and "stacked by class" in text
    assert out.diagnosis["metric"] == "accuracy"
    assert out.diagnosis["baseline"] == pytest.approx(1 / 3, abs=0.05)


def test_unknown_failed_and_non_training_jobs_are_refused(ws, churn_csv, tmp_path, run_cli):
    with pytest.raises(NotFound, match="No job with id 'train-nope'"):
        ws.report("train-nope")
    ws.data.ingest(churn_csv, name="churn")
    # A real failed run: 'churn' holds text, so it cannot be a regression target.
    with pytest.raises(DataError, match="not numeric"):
        ws.train("churn", target="churn", algorithm="linear", problem_type="regression")
    failed = ws.jobs.list(status="Failed")[0]
    with pytest.raises(StateError, match="is Failed") as error:
        ws.report(failed.id)
    assert error.value.code == "reports.job-not-completed"
    assert f"kiln jobs logs {failed.id}" in error.value.message
    other = ws.jobs.create("transform", {})
    ws.jobs.finish(other.id, "Completed", result={})
    with pytest.raises(ConfigError, match="has no report; reports are for training"):
        ws.report(other.id)

    done = run_cli("jobs", "report", failed.id, home=ws.home)
    assert done.returncode == 2
    assert "reports.job-not-completed" in done.stderr
    done = run_cli("jobs", "report", "train-nope", "--json", home=ws.home)
    assert done.returncode == 2 and "jobs.unknown-job" in done.stderr
    assert done.stdout == ""


def test_transformed_feature_names_follow_the_recipe(trained):
    ws, result = trained
    model = ws.models.load(result.model.ref)
    frame = ws.data.load(result.job.result["splits"]["test"]).head(5)
    width = model.pipeline[:-1].transform(frame[model.input_columns]).shape[1]
    names = transformed_feature_names(model.pipeline[:-1], width)
    assert len(names) == width
    assert "tenure" in names and "contract" in names  # LightGBM reads the contract's codes
    assert transformed_feature_names(model.pipeline[:-1], width + 1)[0] == "feature_0"


def test_clustering_section_on_blobs():
    X, truth = make_blobs(n_samples=600, centers=3, cluster_std=0.6, random_state=0)
    predicted = KMeans(3, n_init=3, random_state=0).fit_predict(X)
    section, metrics = clustering_section(X, predicted, truth)
    assert section.title == "Clustering"
    assert metrics["clusters"] == 3 and metrics["noise_share"] == 0
    assert metrics["silhouette"] == pytest.approx(skm.silhouette_score(X, predicted), abs=1e-6)
    assert metrics["silhouette"] > 0.6
    assert metrics["davies_bouldin"] == pytest.approx(skm.davies_bouldin_score(X, predicted))
    assert metrics["davies_bouldin"] < 0.6
    assert metrics["adjusted_rand"] == pytest.approx(
        skm.adjusted_rand_score(truth, predicted), abs=1e-6
    )
    assert metrics["adjusted_rand"] > 0.95 and metrics["rand"] > 0.95
    assert sum(metrics["sizes"].values()) == 600
    assert "Known labels against clusters" in section.body
    assert "silhouette" in section.body

    # Without labels: internal scores only.
    section, metrics = clustering_section(pd.DataFrame(X, columns=["a", "b"]), predicted)
    assert metrics["adjusted_rand"] is None and metrics["silhouette"] > 0.6
    assert "Known labels" not in section.body


def test_clustering_section_on_iris():
    iris = load_iris()
    predicted = KMeans(3, n_init=10, random_state=0).fit_predict(iris.data)
    names = iris.target_names[iris.target]
    _, metrics = clustering_section(iris.data, predicted, names)
    assert metrics["adjusted_rand"] == pytest.approx(
        skm.adjusted_rand_score(iris.target, predicted), abs=1e-6
    )
    assert 0.6 < metrics["adjusted_rand"] < 0.8  # versicolor and virginica overlap
    assert metrics["rand"] == pytest.approx(skm.rand_score(iris.target, predicted), abs=1e-6)


def test_clustering_section_with_noise_and_degenerate_input():
    X, _ = make_blobs(n_samples=200, centers=2, random_state=1)
    labels = np.where(np.arange(200) % 10 == 0, -1, (X[:, 0] > X[:, 0].mean()).astype(int))
    section, metrics = clustering_section(X, labels)
    assert metrics["noise_share"] == pytest.approx(0.1)
    assert metrics["sizes"]["noise"] == 20 and metrics["clusters"] == 2
    clustered = labels >= 0  # noise rows are left out of the silhouette
    assert metrics["silhouette"] == pytest.approx(
        skm.silhouette_score(X[clustered], labels[clustered]), abs=1e-5
    )

    _, single = clustering_section(X, np.zeros(200, dtype=int))
    assert single["clusters"] == 1 and single["silhouette"] is None
    with pytest.raises(DataError, match="rows"):
        clustering_section(X, np.zeros(10, dtype=int))
