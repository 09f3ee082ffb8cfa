import pandas as pd
import pytest
from sklearn.datasets import load_iris

from conftest import CHURN_CSV, FIXTURES
from kiln.errors import ConfigError, DataError, JobFailed

FAST = {
    "xgboost": {"n_estimators": 80},
    "lightgbm": {"n_estimators": 80},
    "linear": {},
    "random_forest": {"n_estimators": 60},
}


@pytest.fixture
def datasets(ws, churn_csv):
    ws.data.ingest(churn_csv, name="churn")
    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    iris = load_iris(as_frame=True).frame
    iris["species"] = iris.pop("target").map(dict(enumerate(load_iris().target_names)))
    ws.data.ingest(iris, name="iris")
    return ws


# Floors a correct implementation reaches on the held-out test split.
@pytest.mark.parametrize("algorithm", sorted(FAST))
def test_each_algorithm_reaches_its_floor_on_real_data(datasets, algorithm):
    ws = datasets
    churn = ws.train("churn", target="churn", algorithm=algorithm, hyperparameters=FAST[algorithm])
    assert churn.model.problem_type == "binary"
    assert churn.metrics["test"]["roc_auc"] >= 0.80
    housing = ws.train(
        "housing", target="price", algorithm=algorithm, hyperparameters=FAST[algorithm]
    )
    assert housing.model.problem_type == "regression"
    assert housing.metrics["test"]["r2"] >= 0.45
    iris = ws.train("iris", target="species", algorithm=algorithm, hyperparameters=FAST[algorithm])
    assert iris.model.problem_type == "multiclass"
    assert iris.metrics["test"]["accuracy"] >= 0.85
    assert set(iris.model.signature["outputs"]["labels"]) == {"setosa", "versicolor", "virginica"}


def test_training_job_record_lineage_and_iteration_metrics(datasets):
    ws = datasets
    lines = []
    result = ws.train(
        "churn",
        target="churn",
        algorithm="lightgbm",
        name="churn_gbm",
        hyperparameters={"n_estimators": 50, "early_stopping_rounds": 0},
        on_log=lines.append,
    )
    job = result.job
    assert job.status == "Completed" and job.kind == "training"
    assert job.spec["hyperparameters"]["n_estimators"] == 50
    assert job.started_at <= job.ended_at and job.duration_seconds > 0
    assert result.model.ref == "churn_gbm:1"
    assert result.model.approval_status == "PendingManualApproval"
    assert result.model.hyperparameters["n_estimators"] == 50
    # Without early stopping there are no chosen rounds to record (test_early_stopping_record.py
    # has the fits with it).
    assert result.job.result["early_stopping"] is None and result.model.details is None
    assert {"scikit-learn", "lightgbm", "python"} <= set(result.model.library_versions)
    series = ws.jobs.metrics(job.id)
    assert len(series["validation_binary_logloss"]) == 50
    assert len(series["train_binary_logloss"]) == 50
    assert any("Registered model churn_gbm:1" in line for line in lines)
    for part in ("validation", "test"):
        assert {
            "accuracy",
            "precision",
            "recall",
            "specificity",
            "f1",
            "roc_auc",
            "pr_auc",
            "log_loss",
            "confusion_matrix",
        } <= set(result.metrics[part])
    signature = result.model.signature
    assert {c["name"] for c in signature["inputs"]} == set(ws.data.get("churn").columns) - {"churn"}
    contract = next(c for c in signature["inputs"] if c["name"] == "contract")
    assert contract["categories"] == ["Month-to-month", "One year", "Two year"]
    assert signature["outputs"]["positive_label"] == "Yes"


def test_problem_type_can_be_forced(datasets):
    ws = datasets
    frame = ws.data.load("housing")
    frame["bedrooms_class"] = frame["bedrooms"].clip(upper=4)
    ws.data.ingest(frame, name="housing_rooms")
    result = ws.train(
        "housing_rooms", target="bedrooms_class", algorithm="linear", problem_type="regression"
    )
    assert result.model.problem_type == "regression"
    with pytest.raises(ConfigError, match="binary, multiclass, regression"):
        ws.train("housing", target="price", algorithm="linear", problem_type="ranking")


def test_regression_on_a_text_target_raises_the_jobs_data_error(datasets):
    ws = datasets
    # In process: the job function itself, on the spec ws.train would give the job.
    from kiln.training import training_spec
    from kiln.training._job import run_training_job

    spec, _ = training_spec(
        ws, "churn", algorithm="linear", target="contract", problem_type="regression"
    )
    probe = ws.jobs.create("training", spec.to_dict())
    with pytest.raises(DataError) as in_process:
        run_training_job(ws, ws.jobs.context(probe.id), spec.to_dict())
    ws.jobs.finish(probe.id, "Stopped")

    # Through a real job in its own process: the same class, code and message.
    with pytest.raises(DataError, match="not numeric") as through_job:
        ws.train("churn", target="contract", algorithm="linear", problem_type="regression")
    error = through_job.value
    assert type(error) is type(in_process.value)
    assert error.code == in_process.value.code == "training.bad-target"
    assert error.message.startswith(in_process.value.message)
    assert not isinstance(error, JobFailed)
    failed = ws.jobs.list(status="Failed")[0]
    assert error.job_id == failed.id
    assert error.message.endswith(f"See 'kiln jobs logs {failed.id}'.")
    assert "not numeric" in failed.failure_reason
    assert (failed.failure_code, failed.failure_class) == ("training.bad-target", "DataError")


def test_bad_arguments_fail_before_a_job_is_created(datasets):
    ws = datasets
    with pytest.raises(DataError, match="Did you mean 'churn'"):
        ws.train("churn", target="chrn", algorithm="linear")
    with pytest.raises(ConfigError, match="max_depth"):
        ws.train("churn", target="churn", algorithm="xgboost", hyperparameters={"max_depth": 99})
    assert ws.jobs.list() == []


def test_missing_target_values_are_a_data_error(ws):
    ws.data.ingest(pd.DataFrame({"x": range(30), "y": [1.0, None, 2.0] * 10}), name="holes")
    with pytest.raises(DataError, match="missing in 10 row") as error:
        ws.train("holes", target="y", algorithm="linear")
    assert error.value.code == "split.missing-target"


def test_training_options_are_defined_once_and_typos_are_refused(ws):
    from kiln.errors import ConfigError
    from kiln.training import TrainingOptions, TrainingSpec, training_spec

    ws.data.ingest(CHURN_CSV, name="churn")
    with pytest.raises(ConfigError, match="Did you mean 'validation'") as error:
        ws.train("churn", target="churn", algorithm="lightgbm", validaton="kfold:3")
    assert error.value.code == "training.unknown-option"
    options = TrainingOptions(target="churn", validation="kfold:3", seed=7)
    spec, dataset = training_spec(ws, "churn", algorithm="lightgbm", options=options)
    assert (spec.validation, spec.seed, spec.group) == ("kfold:3", 7, "churn")
    # the job stores it as plain JSON and reads it back typed
    assert TrainingSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ConfigError, match="not both"):
        training_spec(ws, "churn", algorithm="lightgbm", options=options, seed=3)
