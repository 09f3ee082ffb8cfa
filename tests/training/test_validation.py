import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError
from kiln.training import VALIDATION_STRATEGIES, Validation, fold_indices, parse_validation


@pytest.mark.parametrize(
    ("text", "kind", "folds", "repeats"),
    [
        ("holdout", "holdout", 0, 1),
        ("kfold:5", "kfold", 5, 1),
        ("stratified_kfold:3", "stratified_kfold", 3, 1),
        ("repeated_kfold:3x2", "repeated_kfold", 3, 2),
        ("repeated_stratified_kfold:5x2", "repeated_stratified_kfold", 5, 2),
        ("loocv", "loocv", 0, 1),
        ("timeseries:4", "timeseries", 4, 1),
        ("group_kfold:3", "group_kfold", 3, 1),
    ],
)
def test_parse(text, kind, folds, repeats):
    v = parse_validation(text)
    assert (v.kind, v.folds, v.repeats) == (kind, folds, repeats)
    assert str(v) == text


@pytest.mark.parametrize(
    "text",
    [
        "kfold",
        "kfold:1",
        "kfold:x",
        "bootstrap:5",
        "repeated_kfold:3",
        "loocv:3",
        "holdout:2",
        "holdout:",
    ],
)
def test_bad_strategies_list_the_valid_ones(text):
    with pytest.raises(ConfigError, match="stratified_kfold:K"):
        parse_validation(text)


def test_folds_partition_the_rows_and_respect_groups_and_time():
    y = np.array([0, 1] * 20)
    for text in ("kfold:4", "stratified_kfold:4"):
        folds = fold_indices(parse_validation(text), n_rows=40, y=y, groups=None, seed=0)
        held = np.concatenate([h for _, h in folds])
        assert sorted(held) == list(range(40))
    assert (
        len(
            fold_indices(
                parse_validation("repeated_kfold:4x3"), n_rows=40, y=y, groups=None, seed=0
            )
        )
        == 12
    )
    groups = np.repeat(np.arange(8), 5)
    for train, held in fold_indices(
        parse_validation("group_kfold:4"), n_rows=40, y=y, groups=groups, seed=0
    ):
        assert not set(groups[train]) & set(groups[held])
    for train, held in fold_indices(
        parse_validation("timeseries:3"), n_rows=40, y=y, groups=None, seed=0
    ):
        assert train.max() < held.min()
    with pytest.raises(ConfigError, match="at most 1000 rows"):
        fold_indices(parse_validation("loocv"), n_rows=5000, y=None, groups=None, seed=0)


@pytest.fixture
def churn(ws, churn_csv):
    ws.data.ingest(churn_csv, name="churn")
    return ws


def test_cross_validation_reports_mean_and_spread_and_refits(churn):
    result = churn.train(
        "churn",
        target="churn",
        algorithm="lightgbm",
        validation="stratified_kfold:4",
        hyperparameters={"n_estimators": 60},
    )
    metrics = result.metrics
    assert set(metrics) >= {"cv_mean", "cv_std", "train", "test"}
    assert metrics["cv_mean"]["roc_auc"] > 0.8 and 0 < metrics["cv_std"]["roc_auc"] < 0.05
    assert len(result.job.result["folds"]) == 4
    series = churn.jobs.metrics(result.job.id)
    assert {f"fold{i}/validation_binary_logloss" for i in range(1, 5)} <= set(series)
    # The final model is refit on train + validation rows (4930 + 704).
    assert np.sum(metrics["train"]["confusion_matrix"]) == 5634
    assert result.job.result["validation"] == "stratified_kfold:4"


def test_time_series_and_group_validation_need_their_column(churn):
    with pytest.raises(ConfigError, match="--time-column"):
        churn.train("churn", target="churn", algorithm="linear", validation="timeseries:3")
    with pytest.raises(ConfigError, match="--group-column"):
        churn.train("churn", target="churn", algorithm="linear", validation="group_kfold:3")


def test_group_kfold_keeps_groups_apart_and_drops_the_group_column(ws):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"store": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    frame["y"] = 3 * frame["x"] + rng.normal(scale=0.1, size=200)
    ws.data.ingest(frame, name="stores")
    result = ws.train(
        "stores", target="y", algorithm="linear", validation="group_kfold:5", group_column="store"
    )
    assert result.metrics["cv_mean"]["r2"] > 0.95
    assert [c["name"] for c in result.model.signature["inputs"]] == ["x"]


def test_loocv_on_small_data(ws):
    from sklearn.datasets import load_iris

    iris = (
        load_iris(as_frame=True)
        .frame.rename(columns={"target": "species"})
        .sample(60, random_state=0)
    )
    ws.data.ingest(iris, name="iris_small")
    result = ws.train(
        "iris_small",
        target="species",
        algorithm="linear",
        validation="loocv",
        ratios=(0.8, 0.0, 0.2),
    )
    assert result.metrics["cv_mean"]["accuracy"] > 0.85


def test_every_registered_strategy_parses_its_own_form_and_splits():
    """What a new strategy must pass: its written form round-trips and its folds cover every row
    once per repeat (hold-out has no folds: training splits by ratios)."""
    y = np.array([0, 1] * 30)
    groups = np.arange(60) % 6
    for strategy in VALIDATION_STRATEGIES.values():
        text = strategy.form.replace("KxR", "3x2").replace("K", "3")
        parsed = parse_validation(text)
        assert (parsed.kind, str(parsed)) == (strategy.name, text)
        if strategy.splitter is None:
            continue
        folds = fold_indices(parsed, n_rows=60, y=y, groups=groups, seed=0)
        held = np.concatenate([h for _, h in folds])
        if strategy.name != "timeseries":  # its first rows only ever train
            assert np.bincount(held, minlength=60).tolist() == [parsed.repeats] * 60
        for train, test in folds:
            assert not set(train) & set(test)


def test_automl_splits_through_the_registry():
    from kiln.automl._search import Search  # noqa: F401 - AutoML imports the registry it uses

    scheme = Validation("repeated_stratified_kfold", 5, 2)
    assert str(scheme) == "repeated_stratified_kfold:5x2"
