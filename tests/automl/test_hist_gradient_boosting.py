"""AutoML runs scikit-learn's histogram gradient boosting at its own defaults: the model a user
would fit first by hand is one of its candidates (a floor its result is measured against)."""

from __future__ import annotations

import json

from sklearn.datasets import load_breast_cancer

from kiln import AutoML
from kiln.algorithms import get_algorithm


def test_a_short_run_has_a_default_hist_gradient_boosting_trial(tmp_path):
    frame = load_breast_cancer(as_frame=True).frame.sample(300, random_state=0)
    automl = AutoML(target="target", time_limit=10, workspace=str(tmp_path / "ws")).fit(frame)
    board = automl.leaderboard()
    trials = board[board["algorithm"] == "hist_gradient_boosting"]
    defaults = get_algorithm("hist_gradient_boosting").hyperparameters()
    default_trials = trials[[json.loads(hp) == defaults for hp in trials["hyperparameters"]]]
    # A floor candidate: it starts whatever its estimated cost, until the hard deadline. On a
    # machine loaded by the parallel suite a short limit can leave it no time (or stop its
    # folds); the floor record then names it as missing (docs/automl.md), and otherwise it
    # scores like the model it is.
    floor = automl.model.details["floor"]
    if len(default_trials) == 0:
        assert "hist_gradient_boosting" in floor["missing"], board
        return
    first = default_trials.iloc[0]
    if first["state"] == "complete":
        assert first["roc_auc"] > 0.9
        assert "hist_gradient_boosting" in {c["algorithm"] for c in floor["candidates"]}
    else:
        assert first["state"] == "out of time" and "hist_gradient_boosting" in floor["missing"]
