"""Where a metric came from (test, validation, cv mean, out-of-fold): the headline the model list
shows per source, and the source a choice between runs rests on (never the test split)."""

from __future__ import annotations

from kiln.problems import headline_metrics, selection_source


def test_the_headline_metric_is_read_from_each_source_separately():
    metrics = {
        "train": {"roc_auc": 0.99},
        "validation": {"roc_auc": 0.81, "accuracy": 0.7},
        "test": {"roc_auc": 0.79},
        "oof": {"roc_auc": 0.85},
    }
    name, values = headline_metrics(metrics)
    assert name == "roc_auc"
    assert values == {"test": 0.79, "validation": 0.81, "oof": 0.85}  # never train
    assert headline_metrics({"oof": {"rmse": 3.5}}) == ("rmse", {"oof": 3.5})
    assert headline_metrics({}) == (None, {})


def test_a_choice_rests_on_validation_then_out_of_fold_then_cv_mean_never_test():
    assert selection_source({"validation": {"a": 1}, "test": {"a": 2}}) == "validation"
    assert selection_source({"oof": {"a": 1}, "test": {"a": 2}}) == "oof"
    assert selection_source({"cv_mean": {"a": 1}, "test": {"a": 2}}) == "cv_mean"
    assert selection_source({"test": {"a": 2}, "train": {"a": 3}}) is None
