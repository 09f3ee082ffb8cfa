"""kiln compile: each target on each algorithm family it covers, the parity gate (passing and
failing), the record on the version, the no-compiled-form errors, and the CLI.

The models other than the session's LightGBM are fitted here on the default recipe with one-hot
categoricals, fitted on the session model's input columns (a few hundred rows, well under a
second), so every family shares one real default recipe without a training job each. (The
session's LightGBM itself reads categorical codes.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from kiln.compiler import CompileError, load_compiled, request_columns
from kiln.errors import ConfigError
from kiln.recipe import build_preprocessor
from kiln.registry import TrainedModel


def one_hot_recipe(ws, base: TrainedModel):
    """The default recipe with one-hot categoricals, fitted on the churn rows these tests use."""
    types = ws.data.get("churn").column_types()
    features = ws.data.load("churn").head(600)[base.input_columns]
    recipe = build_preprocessor({c: types[c] for c in base.input_columns}, scale_numeric=False)
    return recipe.fit(features)


def register(ws, estimator, *, base: TrainedModel, algorithm: str, problem_type="binary", y=None):
    """Fit ``estimator`` on the session model's recipe and register it as a version."""
    frame = ws.data.load("churn").head(600)
    features = frame[base.input_columns]
    recipe = one_hot_recipe(ws, base)
    encoded = recipe.transform(features)
    if y is None:
        y = (frame["churn"] == "Yes").astype(int).to_numpy()
    estimator.fit(encoded, y)
    pipeline = Pipeline([("preprocess", recipe), ("model", estimator)])
    classes = base.classes if problem_type != "regression" else None
    model = TrainedModel(
        pipeline, problem_type=problem_type, classes=classes, signature=base.signature
    )
    dataset = ws.data.get("churn")
    return ws.models.register(
        model,
        group=f"churn_{algorithm}",
        algorithm=algorithm,
        target="churn",
        hyperparameters={},
        metrics={},
        dataset_version_id=dataset.id,
    )


@pytest.fixture
def base(trained_copy):
    ws, result = trained_copy
    return ws, result.model.ref, ws.models.load(result.model.ref)


def scores_agree(ws, ref: str, rows: pd.DataFrame) -> float:
    """The largest difference between the recorded compiled form and the pipeline on ``rows``."""
    version = ws.models.get(ref)
    model = ws.models.load(version)
    compiled = load_compiled(ws, version)
    got = compiled.score(request_columns(rows, model.signature))
    typed = pd.DataFrame(request_columns(rows, model.signature))
    expected = model.predict_proba(typed) if model.is_classifier else model.predict_values(typed)
    return float(np.max(np.abs(got - expected)))


def test_the_default_compiles_each_target_and_serves_the_fastest_that_passes_parity(base):
    pytest.importorskip("onnxruntime")
    ws, ref, _ = base
    record = ws.compile(ref)  # no target: native and onnx both tried
    parity = record["parity"]
    assert parity["passed"] and parity["max_abs_diff"] <= 1e-5 and parity["labels_identical"]
    assert "validation split" in parity["rows_from"] and parity["rows"] > 100
    forms = ws.models.get(ref).compiled
    assert set(forms) == {"native", "onnx"}
    fastest = min(forms, key=lambda t: forms[t]["latency_ms"]["compiled"])
    assert record["target"] == fastest and forms[fastest]["digest"] == record["digest"]
    assert [t for t in forms if forms[t]["serving"]] == [fastest]
    assert all(ws.artifacts.exists(f["digest"]) for f in forms.values())
    assert load_compiled(ws, ws.models.get(ref)).target == fastest
    assert scores_agree(ws, ref, ws.data.load("churn").tail(50)) <= 1e-5
    # A target named explicitly serves from then on.
    other = "native" if fastest == "onnx" else "onnx"
    ws.compile(ref, target=other)
    assert load_compiled(ws, ws.models.get(ref)).target == other


def test_a_model_without_the_compiled_form_is_refused_naming_algorithm_and_fallback(base):
    from sklearn.neighbors import KNeighborsClassifier

    ws, _, model = base
    knn = register(ws, KNeighborsClassifier(), base=model, algorithm="knn")
    with pytest.raises(CompileError) as caught:
        ws.compile(knn.ref, target="onnx")
    assert caught.value.code == "compile.unsupported"
    message = str(caught.value)
    assert "'knn'" in message and "pipeline" in message and "--target native" in message
    assert ws.models.get(knn.ref).compiled is None  # nothing recorded


def test_hist_gradient_boosting_compiles_natively_and_onnx_refuses_it_by_name(base):
    """skl2onnx's converter for it fails on current onnx releases: no onnx form, and the refusal
    names the algorithm and the native target; its native form serves with parity."""
    pytest.importorskip("onnxruntime")
    from kiln.algorithms import get_algorithm

    ws, _, model = base
    algorithm = get_algorithm("hist_gradient_boosting")
    frame = ws.data.load("churn").head(600)
    hp = algorithm.hyperparameters({"max_iter": 20})
    classifier = register(
        ws, algorithm.build_estimator("binary", hp, 0), base=model, algorithm=algorithm.name
    )
    regressor = register(
        ws,
        algorithm.build_estimator("regression", hp, 0),
        base=model,
        algorithm=algorithm.name,
        problem_type="regression",
        y=frame["monthly_charges"].to_numpy(dtype=float),
    )
    for version in (classifier, regressor):
        with pytest.raises(CompileError) as caught:
            ws.compile(version.ref, target="onnx")
        assert caught.value.code == "compile.unsupported"
        message = str(caught.value)
        assert "'hist_gradient_boosting'" in message and "--target native" in message
        record = ws.compile(version.ref)  # both targets tried: native is the one there is
        assert record["target"] == "native" and record["parity"]["passed"]
        assert set(ws.models.get(version.ref).compiled) == {"native"}
        assert scores_agree(ws, version.ref, frame.tail(40)) <= 1e-9


def test_an_unsupervised_model_has_no_compiled_form(base):
    from sklearn.cluster import KMeans

    ws, _, model = base
    frame = ws.data.load("churn").head(200)[model.input_columns]
    pipeline = Pipeline([("preprocess", one_hot_recipe(ws, model)), ("model", KMeans(2, n_init=1))])
    pipeline.fit(frame)
    clusters = TrainedModel(
        pipeline, problem_type="clustering", classes=None, signature=model.signature
    )
    version = ws.models.register(
        clusters, group="segments", algorithm="kmeans", target="", hyperparameters={}, metrics={}
    )
    with pytest.raises(CompileError, match="'kmeans'.*clustering") as caught:
        ws.compile(version.ref)
    assert caught.value.code == "compile.unsupported"


def test_an_unknown_target_is_refused(base):
    ws, ref, _ = base
    with pytest.raises(ConfigError, match="'tensorrt'.*native, onnx") as caught:
        ws.compile(ref, target="tensorrt")
    assert caught.value.code == "compile.bad-target"


@pytest.mark.parametrize("target", ["native", "onnx"])
def test_boosters_linear_and_regression_models_compile_for_both_targets(base, target):
    pytest.importorskip("onnxruntime")
    from sklearn.linear_model import LogisticRegression, Ridge

    ws, ref, model = base
    frame = ws.data.load("churn").head(600)
    linear = register(ws, LogisticRegression(solver="liblinear"), base=model, algorithm="linear")
    ridge = register(
        ws,
        Ridge(),
        base=model,
        algorithm="linear",
        problem_type="regression",
        y=frame["monthly_charges"].to_numpy(dtype=float),
    )
    xgb = pytest.importorskip("xgboost")
    catboost = pytest.importorskip("catboost")
    boosters = [
        register(ws, xgb.XGBClassifier(n_estimators=20, n_jobs=1), base=model, algorithm="xgboost"),
        register(
            ws,
            catboost.CatBoostClassifier(iterations=30, verbose=0, thread_count=1),
            base=model,
            algorithm="catboost",
        ),
    ]
    rows = frame.tail(40)
    for version in (ws.models.get(ref), *boosters, linear, ridge):
        record = ws.compile(version.ref, target=target)
        assert record["parity"]["passed"], version.ref
        assert ws.models.get(version.ref).compiled[target]["digest"] == record["digest"]
        worst = scores_agree(ws, version.ref, rows)
        assert worst <= (1e-5 if version.problem_type != "regression" else 1e-6 * 120)


def test_a_form_that_fails_parity_is_not_recorded_and_the_error_names_what_broke(base):
    """skl2onnx's random forest compares thresholds in single precision: on churn's charges it
    answers differently on some rows, a real converter failure the gate must catch."""
    pytest.importorskip("onnxruntime")
    from sklearn.ensemble import RandomForestClassifier

    ws, _, model = base
    forest = register(
        ws,
        RandomForestClassifier(n_estimators=15, random_state=0),
        base=model,
        algorithm="random_forest",
    )
    with pytest.raises(CompileError) as caught:
        ws.compile(forest.ref, target="onnx")
    assert caught.value.code == "compile.parity-failed"
    message = str(caught.value)
    assert "random_forest model: its estimator's onnx form" in message
    assert "max_abs_diff=" in message and "--target native" in message
    assert ws.models.get(forest.ref).compiled is None
    assert ws.compile(forest.ref, target="native")["parity"]["passed"]  # its own code passes


def ensemble_of(
    ws,
    model: TrainedModel,
    *,
    members: dict[str, list],
    weights: list[float],
    calibration=None,
):
    """An AutoML WeightedEnsemble of fitted estimators on the session model's recipe, each
    member bagged over its list of estimators (its folds), registered as an 'automl' version."""
    from kiln.automl._ensemble import BaggedMember, WeightedEnsemble, ensemble_pipeline

    frame = ws.data.load("churn").head(600)
    features = frame[model.input_columns]
    recipe = one_hot_recipe(ws, model)
    encoded = recipe.transform(features)
    y = (frame["churn"] == "Yes").astype(int).to_numpy()
    bagged = []
    for name, estimators in members.items():
        pipelines = []
        for fold, estimator in enumerate(estimators):
            rows = np.arange(len(y)) % len(estimators) != fold if len(estimators) > 1 else ...
            estimator.fit(encoded[rows], y[rows])
            pipelines.append(Pipeline([("preprocess", recipe), ("model", estimator)]))
        bagged.append(BaggedMember(name, pipelines, "binary", 2))
    ensemble = WeightedEnsemble(bagged, weights, "binary", calibration)
    trained = TrainedModel(
        ensemble_pipeline(ensemble, features.head(5)),
        problem_type="binary",
        classes=model.classes,
        signature=model.signature,
    )
    return ws.models.register(
        trained,
        group="churn_automl",
        algorithm="automl",
        target="churn",
        hyperparameters={},
        metrics={},
        dataset_version_id=ws.data.get("churn").id,
    )


def test_an_automl_ensemble_compiles_member_by_member(base):
    from lightgbm import LGBMClassifier
    from sklearn.linear_model import LogisticRegression

    ws, _, model = base
    version = ensemble_of(
        ws,
        model,
        members={
            "lightgbm": [LGBMClassifier(n_estimators=20, verbose=-1)],
            "linear": [
                LogisticRegression(solver="liblinear"),
                LogisticRegression(C=0.5, solver="liblinear"),
            ],
        },
        weights=[0.6, 0.4],
    )
    record = ws.compile(version.ref)
    assert record["members"] == 2 and record["parity"]["passed"]
    compiled = load_compiled(ws, ws.models.get(version.ref))
    assert compiled.ensemble and [len(m.pipelines) for m in compiled.members] == [1, 2]
    # The three pipelines share one fitted recipe: one encoder, so rows are encoded once.
    assert len({id(p.encoder) for m in compiled.members for p in m.pipelines}) == 1
    assert scores_agree(ws, version.ref, ws.data.load("churn").tail(40)) <= 1e-5


def test_a_calibrated_ensemble_compiles_with_its_calibration(base):
    from lightgbm import LGBMClassifier

    from kiln.automl._ensemble import Calibration

    ws, _, model = base
    calibration = Calibration("temperature")
    calibration.temperature = 2.5  # softer probabilities than the members'
    version = ensemble_of(
        ws,
        model,
        members={"lightgbm": [LGBMClassifier(n_estimators=20, verbose=-1)]},
        weights=[1.0],
        calibration=calibration,
    )
    record = ws.compile(version.ref)
    assert record["parity"]["passed"]
    compiled = load_compiled(ws, ws.models.get(version.ref))
    assert compiled.calibration is not None and compiled.calibration.temperature == 2.5
    rows = ws.data.load("churn").tail(40)
    assert scores_agree(ws, version.ref, rows) <= 1e-5
    # The calibration is applied: the stored model's probabilities are softer than its member's.
    stored = ws.models.load(version.ref)
    member = stored.pipeline[-1].members[0].predict(rows[stored.input_columns])
    calibrated = stored.predict_proba(rows)
    assert np.abs(calibrated - 0.5).max() < np.abs(member - 0.5).max()


def test_the_cli_compiles_and_models_show_lists_the_compiled_form(base, run_cli):
    ws, ref, _ = base
    done = run_cli("compile", ref, home=ws.home, check=True)
    assert "Compiled" in done.stdout and "labels identical" in done.stdout
    shown = run_cli("models", "show", ref, home=ws.home, check=True).stdout
    assert "(serving): parity max |Δp|" in shown
    refused = run_cli("compile", ref, "--target", "gpu", home=ws.home)
    assert refused.returncode == 2 and "compile.bad-target" in refused.stderr


def test_an_ensemble_member_onnx_gets_wrong_keeps_its_native_scorer(base):
    """Member by member: the forest's ONNX form answers differently (single precision), so that
    member stays native while the LightGBM member runs in ONNX Runtime; the whole passes."""
    pytest.importorskip("onnxruntime")
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier

    ws, _, model = base
    version = ensemble_of(
        ws,
        model,
        members={
            "lightgbm": [LGBMClassifier(n_estimators=20, verbose=-1)],
            "random_forest": [RandomForestClassifier(n_estimators=15, random_state=0)],
        },
        weights=[0.5, 0.5],
    )
    record = ws.compile(version.ref, target="onnx")
    assert record["parity"]["passed"] and record["native_members"] == ["random_forest"]
    compiled = load_compiled(ws, ws.models.get(version.ref))
    kinds = [type(m.pipelines[0].scorer).__name__ for m in compiled.members]
    assert kinds == ["OnnxScorer", "EstimatorScorer"]


def test_an_ensembles_hist_gradient_boosting_member_keeps_its_native_scorer(base):
    pytest.importorskip("onnxruntime")
    from lightgbm import LGBMClassifier

    from kiln.algorithms import get_algorithm

    ws, _, model = base
    algorithm = get_algorithm("hist_gradient_boosting")
    hp = algorithm.hyperparameters({"max_iter": 20})
    version = ensemble_of(
        ws,
        model,
        members={
            "lightgbm": [LGBMClassifier(n_estimators=20, verbose=-1)],
            "hist_gradient_boosting": [algorithm.build_estimator("binary", hp, 0)],
        },
        weights=[0.5, 0.5],
    )
    record = ws.compile(version.ref, target="onnx")
    assert record["parity"]["passed"] and record["native_members"] == ["hist_gradient_boosting"]
    assert scores_agree(ws, version.ref, ws.data.load("churn").tail(40)) <= 1e-5


def test_a_member_with_automls_power_recipe_compiles(base):
    """AutoML's scale-sensitive members use the 'power' recipe (Yeo-Johnson on the numeric
    columns, then the default recipe): the compiled featurizer runs the step's own function."""
    from sklearn.linear_model import LogisticRegression

    from kiln.automl._ensemble import BaggedMember, WeightedEnsemble, ensemble_pipeline
    from kiln.recipe import compile_recipe

    ws, _, model = base
    frame = ws.data.load("churn").head(600)
    features = frame[model.input_columns]
    y = (frame["churn"] == "Yes").astype(int).to_numpy()
    types = {c["name"]: c["type"] for c in model.signature["inputs"]}
    numeric = [c for c, t in types.items() if t == "numeric"]
    assert numeric
    recipe = compile_recipe(
        [{"step": "transform", "columns": numeric, "function": "yeo_johnson"}],
        types,
        problem_type="binary",
        scale_numeric=True,
        seed=0,
    )
    power = Pipeline([("recipe", recipe), ("model", LogisticRegression(solver="liblinear"))])
    power.fit(features, y)
    ensemble = WeightedEnsemble(
        [
            BaggedMember("power linear", [power], "binary", 2),
            BaggedMember("lightgbm", [model.pipeline], "binary", 2),
        ],
        [0.3, 0.7],
        "binary",
    )
    trained = TrainedModel(
        ensemble_pipeline(ensemble, features.head(5)),
        problem_type="binary",
        classes=model.classes,
        signature=model.signature,
    )
    version = ws.models.register(
        trained,
        group="churn_power",
        algorithm="automl",
        target="churn",
        hyperparameters={},
        metrics={},
        dataset_version_id=ws.data.get("churn").id,
    )
    assert ws.compile(version.ref)["parity"]["passed"]
    assert scores_agree(ws, version.ref, ws.data.load("churn").tail(40)) <= 1e-5
