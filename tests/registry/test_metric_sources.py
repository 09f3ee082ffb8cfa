"""Model versions keep each metric under its source: AutoML's out-of-fold metrics under ``oof``
(older records too), and ``kiln models list`` shows one column per source, never a mixed one."""

from __future__ import annotations

from helpers import table_rows


def _register(ws, model, algorithm: str, metrics: dict):
    return ws.models.register(
        model, group="m", algorithm=algorithm, target="churn", hyperparameters={}, metrics=metrics
    )


def test_an_older_automl_version_reads_its_out_of_fold_metrics_under_oof(ws, trained):
    source, result = trained
    model = source.models.load(result.model.ref)
    legacy = _register(ws, model, "automl", {"validation": {"roc_auc": 0.91}})
    assert ws.models.get(legacy.ref).metrics == {"oof": {"roc_auc": 0.91}}
    trained_one = _register(ws, model, "lightgbm", {"validation": {"roc_auc": 0.8}})
    assert ws.models.get(trained_one.ref).metrics == {"validation": {"roc_auc": 0.8}}


def test_models_list_shows_each_source_in_its_own_column(ws, trained, run_cli):
    source, result = trained
    model = source.models.load(result.model.ref)
    _register(ws, model, "lightgbm", result.model.metrics)  # train, validation and test
    _register(ws, model, "automl", {"validation": {"roc_auc": 0.9912}})  # an older AutoML record
    _register(ws, model, "automl", {"oof": {"roc_auc": 0.95}, "test": {"roc_auc": 0.8765}})
    ws.close()
    rows = table_rows(run_cli("models", "list", home=ws.home, check=True).stdout)
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert [c for c in header if c in ("test", "validation", "out-of-fold")] == [
        "test",
        "validation",
        "out-of-fold",
    ]
    trained_row, legacy, automl = body["m:1"], body["m:2"], body["m:3"]
    assert trained_row["metric"] == "roc_auc"
    assert trained_row["test"] == f"{result.model.metrics['test']['roc_auc']:.4f}"
    assert trained_row["validation"] == f"{result.model.metrics['validation']['roc_auc']:.4f}"
    assert trained_row["out-of-fold"] == ""
    assert (legacy["test"], legacy["validation"], legacy["out-of-fold"]) == ("", "", "0.9912")
    assert (automl["test"], automl["out-of-fold"]) == ("0.8765", "0.9500")
