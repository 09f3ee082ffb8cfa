"""The rounds early stopping chose are recorded beside the configured ones (job result and model
details) and shown by 'kiln models show' and 'kiln jobs show'."""

from __future__ import annotations

from conftest import CHURN_CSV


def test_holdout_and_cross_validation_record_the_rounds_early_stopping_chose(ws, run_cli):
    ws.data.ingest(CHURN_CSV, name="churn")
    hp = {"n_estimators": 2000, "learning_rate": 0.5, "early_stopping_rounds": 5}
    holdout = ws.train("churn", target="churn", algorithm="lightgbm", hyperparameters=hp)
    stopped = holdout.job.result["early_stopping"]
    assert stopped["param"] == "n_estimators" and stopped["configured"] == 2000
    assert 1 <= stopped["chosen"] < 2000
    assert holdout.model.details == {"early_stopping": stopped}
    assert holdout.model.hyperparameters["n_estimators"] == 2000  # as configured

    crossed = ws.train(
        "churn", target="churn", algorithm="lightgbm", hyperparameters=hp, validation="kfold:3"
    )
    folds = crossed.job.result["early_stopping"]
    assert len(folds["per_fold"]) == 3 and folds["configured"] == 2000
    assert crossed.model.hyperparameters["n_estimators"] == folds["chosen"]  # the refit's

    ws.close()
    shown = run_cli("models", "show", holdout.model.ref, home=ws.home, check=True).stdout
    assert f"n_estimators {stopped['chosen']} chosen of 2000 configured" in shown
    job = run_cli("jobs", "show", holdout.job.id, home=ws.home, check=True).stdout
    assert "n_estimators=2000, learning_rate=0.5," in job
    assert "2000.0" not in job


# A fit without early stopping records none: test_train.py's
# test_training_job_record_lineage_and_iteration_metrics checks it on its model (a job less).
