"""AutoML started without waiting (what Studio's Canvas does), its progress read while it runs
and once it is done, and the target check Canvas runs before starting."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from kiln.automl import automl_progress, check_target, start_automl
from kiln.errors import ConfigError, DataError


@pytest.fixture
def small(ws):
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    frame = pd.DataFrame(
        {
            "x": x,
            "noise": rng.normal(size=300),
            "label": np.where(x + rng.normal(scale=0.5, size=300) > 0, "yes", "no"),
            "same": "one",
        }
    )
    ws.data.ingest(frame, name="small")
    return ws


def test_a_started_run_answers_at_once_and_its_progress_ends_on_the_result(small):
    ws = small
    started = time.monotonic()
    job = start_automl(ws, "small", target="label", time_limit=10, algorithms=["linear"])
    assert time.monotonic() - started < 5
    assert job.status == "Pending" and job.kind == "automl"
    early = automl_progress(ws, job.id)
    assert early["status"] in ("Pending", "InProgress")
    assert 0 < early["remaining_seconds"] <= 10
    assert early["result"] is None
    ws.jobs.wait(job.id, timeout=120)
    done = automl_progress(ws, job.id)
    assert done["status"] == "Completed", done
    assert done["remaining_seconds"] == 0
    scores = [value for _step, value in ws.jobs.metrics(job.id)["trial_score"]]
    assert done["trials"] == len(scores) >= 1
    assert done["best_score"] == pytest.approx(max(scores))
    assert [score for _trial, score in done["trial_scores"]] == scores
    assert done["best_scores"][-1][1] == done["best_score"]
    assert done["log"] and "Registered model small:1" in done["log"][-1]
    result = done["result"]
    assert result["model"] == "small:1" and result["metric"] == "roc_auc"
    assert result["leaderboard"][0]["rank"] == 0
    explanation = result["explanation"]  # a busy machine may leave no time to explain, said so
    assert explanation["permutation_importance"] or explanation["permutation_importance_skipped"]


def test_the_target_check_names_the_problem_or_the_reason_it_cannot_be_one(small):
    ws = small
    assert check_target(ws, "small", "label") == "binary"
    assert check_target(ws, "small", "x") == "regression"
    with pytest.raises(ConfigError) as constant:
        check_target(ws, "small", "same")
    assert constant.value.code == "automl.constant-target"
    assert "'one'" in constant.value.message
    with pytest.raises(DataError) as unknown:
        check_target(ws, "small", "lable")
    assert unknown.value.code == "data.unknown-column"
    with pytest.raises(ConfigError):
        start_automl(ws, "small", target="same", time_limit=10)
    assert ws.jobs.list() == []


def test_progress_of_another_kind_of_job_is_refused(small):
    ws = small
    job = ws.jobs.create("transform", {})
    with pytest.raises(ConfigError) as caught:
        automl_progress(ws, job.id)
    assert caught.value.code == "automl.not-automl-job"
