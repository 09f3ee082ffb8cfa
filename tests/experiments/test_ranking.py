"""Experiments choose on validation (else out-of-fold, else the cross-validation mean) and show
the test split without ranking on it; hyperparameters print as given (integers stay integers)
beside the rounds early stopping chose."""

from __future__ import annotations

from helpers import table_rows


def _run(ws, algorithm: str, hyperparameters: dict, metrics: dict, **result) -> str:
    """A finished training run of experiment 'e', as the training job records one."""
    job = ws.jobs.create(
        "training",
        {
            "algorithm": algorithm,
            "dataset": "churn:1",
            "hyperparameters": hyperparameters,
            "validation": "kfold:5" if "cv_mean" in metrics else "holdout",
        },
        experiment="e",
    )
    model = f"m:{len(ws.jobs.list())}"
    ws.jobs.finish(
        job.id,
        "Completed",
        result={"model": model, "problem_type": "binary", "metrics": metrics, **result},
    )
    return model


def _experiment(ws) -> dict[str, str]:
    boosted = _run(
        ws,
        "xgboost",
        {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.0312345678},
        {"validation": {"roc_auc": 0.80}, "test": {"roc_auc": 0.95}},  # the best test score
        early_stopping={"param": "n_estimators", "configured": 300, "chosen": 98},
    )
    linear = _run(
        ws,
        "linear",
        {"penalty": "l2", "alpha": 1.0},
        {"validation": {"roc_auc": 0.85}, "test": {"roc_auc": 0.70}},  # the best validation
    )
    crossed = _run(
        ws,
        "lightgbm",
        {"n_estimators": 100, "max_depth": 6},
        {"cv_mean": {"roc_auc": 0.83}, "cv_std": {"roc_auc": 0.01}, "test": {"roc_auc": 0.99}},
    )
    return {"boosted": boosted, "linear": linear, "crossed": crossed}


def test_the_best_run_is_chosen_on_validation_never_on_test(ws):
    models = _experiment(ws)
    best = ws.experiments.best("e")
    assert best["model"] == models["linear"] and best["split"] == "validation"
    assert best["value"] == 0.85
    frame = ws.experiments.compare("e").set_index("model")
    assert frame.loc[models["linear"], "rank"] == 1
    assert frame.loc[models["crossed"], "rank"] == 2  # its cv mean, not its 0.99 on test
    assert frame.loc[models["boosted"], "rank"] == 3
    assert frame.loc[models["crossed"], "split"] == "cv_mean"
    assert frame.loc[models["boosted"], "test.roc_auc"] == 0.95
    # max_depth is missing for the linear run: the column stays integer all the same.
    assert str(frame["hp.max_depth"].dtype) == "Int64"
    assert frame.loc[models["boosted"], "chosen.n_estimators"] == 98
    assert ws.experiments.list()[0]["best"]["split"] == "validation"


def test_cli_compare_names_the_ranking_split_and_prints_integers_as_integers(ws, run_cli):
    models = _experiment(ws)
    ws.close()
    stdout = run_cli("experiments", "compare", "e", home=ws.home, check=True).stdout
    assert "ranked on its validation metrics" in stdout and "never used to choose" in stdout
    assert f"Best: {models['linear']} (roc_auc 0.8500 on validation)" in stdout
    rows = table_rows(stdout)
    runs = rows[0][1:]
    by_label = {r[0]: dict(zip(runs, r[1:], strict=True)) for r in rows[1:] if r[0]}
    job_of = {model: job for job, model in by_label["model"].items()}
    boosted, linear = job_of[models["boosted"]], job_of[models["linear"]]
    assert by_label["rank"][linear] == "1"
    assert by_label["ranked on"][job_of[models["crossed"]]] == "cv mean"
    assert by_label["test roc_auc"][boosted] == "0.9500"
    assert by_label["max_depth"][boosted] == "4"
    assert by_label["max_depth"][linear] == ""
    assert by_label["learning_rate"][boosted] == "0.03123"
    assert by_label["n_estimators"][boosted] == "300 (early stopping: 98)"
    assert "4.0" not in stdout
