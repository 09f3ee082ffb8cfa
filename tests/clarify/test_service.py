"""ws.clarify and ``kiln clarify``: bias reports and explanations of stored data and models."""

import json

import pandas as pd
import pytest

from kiln.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def churn(trained):
    ws, result = trained
    return ws, result.model.ref


def test_bias_with_a_model_scores_its_predicted_labels(churn):
    ws, ref = churn
    report = ws.clarify.bias("churn", model=ref, facet="senior_citizen", label_value="Yes")
    assert report.label == "churn" and report.model == ref  # the model's target by default
    assert report.label_value == "Yes" and report.facet == "senior_citizen = 1"
    frame = ws.data.load("churn")
    accepted = pd.Series(ws.models.load(ref).predict(frame) == "Yes")
    senior = frame["senior_citizen"] == 1
    assert report.value("DPPL") == pytest.approx(accepted[~senior].mean() - accepted[senior].mean())
    observed = frame["churn"] == "Yes"
    assert report.value("DPL") == pytest.approx(observed[~senior].mean() - observed[senior].mean())
    assert report.facts["rows_d"] == int(senior.sum())
    stages = {m.info.stage for m in report.metrics}
    assert stages == {"pre-training", "post-training"}


def test_bias_without_a_model_is_pre_training_only_and_needs_the_label(churn):
    ws, _ = churn
    report = ws.clarify.bias("churn", label="churn", facet="tenure<12", label_value="Yes")
    assert {m.info.stage for m in report.metrics} == {"pre-training"}
    assert report.facet == "tenure < 12"
    with pytest.raises(ConfigError) as caught:
        ws.clarify.bias("churn", facet="tenure<12", label_value="Yes")
    assert caught.value.code == "clarify.no-label"


def test_cli_bias_prints_each_metric_with_its_range_and_reading(churn, run_cli, tmp_path):
    ws, ref = churn
    out = tmp_path / "bias.html"
    result = run_cli(
        "clarify", "bias", "--data", "churn@1", "--model", ref, "--facet", "senior_citizen=1",
        "--label-value", "Yes", "--out", str(out), home=ws.home, check=True,
    )  # fmt: skip
    assert "Pre-training bias" in result.stdout and "Post-training bias" in result.stdout
    assert "DPPL" in result.stdout and "[-1, 1]" in result.stdout
    assert "undefined: it needs a group column" in result.stdout  # CDDL without --group
    page = out.read_text()
    assert "Disparate impact" in page and "q′_d / q′_a" in page
    assert len(page) < 1_000_000  # plotly.js sits beside the page


def test_cli_bias_json_has_null_for_undefined_metrics(churn, run_cli):
    ws, _ = churn
    result = run_cli(
        "clarify", "bias", "--data", "churn", "--label", "churn", "--facet", "contract=Two year",
        "--label-value", "Yes", "--group", "internet_service", "--json", home=ws.home, check=True,
    )  # fmt: skip
    body = json.loads(result.stdout)
    metrics = {m["name"]: m for m in body["metrics"]}
    assert set(metrics) == {"CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL"}
    assert metrics["CDDL"]["value"] is not None
    assert body["facet"] == "contract = Two year"


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        (["--facet", "gender=f"], "clarify.unknown-column", "'gender'"),
        (["--facet", "contract=Weekly"], "clarify.unknown-facet-value", "'Month-to-month'"),
        (["--facet", "contract"], "clarify.missing-facet-value", "--facet contract=VALUE"),
    ],
)
def test_cli_bias_refuses_bad_facets(churn, run_cli, options, code, words):
    ws, ref = churn
    result = run_cli(
        "clarify", "bias", "--data", "churn", "--model", ref, "--label-value", "Yes", *options,
        home=ws.home,
    )  # fmt: skip
    assert result.returncode == 2
    assert code in result.stderr and words in result.stderr


def test_cli_bias_refuses_a_label_value_the_label_never_takes(churn, run_cli):
    ws, ref = churn
    result = run_cli(
        "clarify", "bias", "--data", "churn", "--model", ref, "--facet", "female=1",
        "--label-value", "Maybe", home=ws.home,
    )  # fmt: skip
    assert result.returncode == 2
    assert "clarify.unknown-label-value" in result.stderr and "'No', 'Yes'" in result.stderr


def test_cli_explain_gives_global_and_per_row_attributions(churn, run_cli, tmp_path):
    ws, ref = churn
    out = tmp_path / "explain.html"
    result = run_cli(
        "clarify", "explain", "--model", ref, "--data", "churn", "--rows", "2", "--out", str(out),
        "--json", home=ws.home, check=True,
    )  # fmt: skip
    body = json.loads(result.stdout)
    model = ws.models.load(ref)
    assert set(body["attributions"]) == set(model.input_columns)
    assert body["units"] == "log-odds" and body["rows"] == 2000
    first = body["row_explanations"][0]
    assert first["prediction"]["label"] in ("Yes", "No") and len(first["contributions"]) == 5
    assert "Per-row attributions" in out.read_text()
    shown = run_cli("clarify", "explain", "--model", ref, "--data", "churn", "--rows", "1",
                    home=ws.home, check=True).stdout  # fmt: skip
    assert "contract" in shown and "Per-row attributions" in shown


def test_explain_refuses_empty_data_and_a_negative_row_count(churn):
    ws, ref = churn
    frame = ws.data.load("churn")
    with pytest.raises(DataError) as caught:
        ws.clarify.explain(ref, frame.head(0))
    assert caught.value.code == "clarify.empty-data"
    with pytest.raises(ConfigError) as caught:
        ws.clarify.explain(ref, frame.head(5), rows=-1)
    assert caught.value.code == "clarify.bad-value"


def test_post_training_bias_needs_a_classifier_or_a_regressor(churn):
    from sklearn.cluster import KMeans
    from sklearn.pipeline import Pipeline

    from kiln.clarify import ClarifyService
    from kiln.registry import TrainedModel

    ws, _ = churn
    frame = pd.DataFrame({"x": [0.0, 1.0, 5.0, 6.0]})
    pipeline = Pipeline([("model", KMeans(n_clusters=2, n_init=1, random_state=0))]).fit(frame)
    model = TrainedModel(
        pipeline, problem_type="clustering", classes=None, signature={"inputs": [{"name": "x"}]}
    )
    with pytest.raises(ConfigError) as caught:
        ClarifyService(ws)._predictions(model, frame)
    assert caught.value.code == "clarify.unsupported-model"
    assert "Leave out --model" in caught.value.message
