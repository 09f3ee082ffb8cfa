"""AutoML's search on real data, in this process (no job): the floor candidates run first and
the chosen ensemble is never worse than the best of them out of fold, only the ensemble
library's fold models are kept, and a regression target's transforms are searched."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from kiln.algorithms import BINARY, MULTICLASS, REGRESSION, get_algorithm
from kiln.automl._ensemble import choose_calibration, select_ensemble
from kiln.automl._job import _families, _recipes
from kiln.automl._search import SCALE_SENSITIVE, Search
from kiln.data import NUMERIC

SECONDS = 6


def make_search(
    X: pd.DataFrame,
    y: np.ndarray,
    problem_type: str,
    metric: str,
    *,
    classes: list | None = None,
    families: list[str] | None = None,
) -> Search:
    """A search over every AutoML family (or ``families``) on all-numeric columns, one fit at a
    time, as the job builds it."""
    column_types = {c: NUMERIC for c in X.columns}
    recipes = _recipes(column_types, list(X.columns), [])
    families = families or _families(problem_type, len(X), None)
    return Search(
        problem_type=problem_type,
        X=X,
        y=y,
        column_types=column_types,
        features=list(X.columns),
        classes=classes,
        metric=metric,
        recipes={n: recipes["scaled" if n in SCALE_SENSITIVE else "trees"] for n in families},
        families=families,
        imbalanced=False,
        workers=1,
        seed=0,
        log=lambda *args, **kwargs: None,
    )


def search_on(name: str, problem_type: str, metric: str, seconds: float = SECONDS) -> Search:
    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    if name == "diabetes":
        # Disease progression (25 to 346) made right-skewed, as prices and counts are.
        frame["target"] = np.exp(frame["target"] / 60)
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    classes = None
    if problem_type != REGRESSION:
        classes = sorted(set(y.tolist()))
        y = y.astype(int)
    search = make_search(X, y, problem_type, metric, classes=classes)
    # As the job runs it: floor candidates may start until the hard deadline (here generous, so
    # a busy machine cannot squeeze them out of the test).
    now = time.monotonic()
    search.run(now + seconds, hard_deadline=now + 4 * seconds)
    return search


@pytest.fixture(scope="module")
def searches():
    return {
        "diabetes": search_on("diabetes", REGRESSION, "rmse"),
        "wine": search_on("wine", MULTICLASS, "log_loss"),
        "breast_cancer": search_on("breast_cancer", BINARY, "roc_auc"),
    }


@pytest.mark.parametrize("name", ["diabetes", "wine", "breast_cancer"])
def test_the_floor_candidates_run_first_and_the_ensemble_is_never_worse(searches, name):
    search = searches[name]
    floor_families = [f.name for f in search.families if get_algorithm(f.name).automl.floor]
    assert floor_families == ["lightgbm", "hist_gradient_boosting", "linear"]
    floors = [t for t in search.trials if t.floor]
    # Each floor family's default-settings trial, before any other family's trial.
    assert [t.family for t in floors] == floor_families
    assert [t.number for t in floors] == list(range(1, len(floors) + 1))
    assert all(t.hyperparameters == get_algorithm(t.family).hyperparameters({}) for t in floors)
    assert all(t.target_transform in (None, "none") for t in floors)
    library = search.library()
    _, ensemble = select_ensemble([t.oof for t in library], search.loss)
    assert ensemble <= min(t.loss for t in floors) + 1e-12
    if name != "diabetes":
        y = search.y[search.rows]
        oof = sum(w * t.oof for t, w in zip(library, select_ensemble(
            [t.oof for t in library], search.loss)[0], strict=True))  # fmt: skip
        calibration, reported, _ = choose_calibration(
            oof, y, search.loss, 0, ranking=search.metric == "roc_auc"
        )
        assert search.loss(reported) <= min(t.loss for t in floors) + 1e-12


@pytest.mark.parametrize("name", ["diabetes", "wine", "breast_cancer"])
def test_only_the_ensemble_librarys_fold_models_are_kept(searches, name):
    search = searches[name]
    with_models = {t.number for t in search.trials if t.pipelines is not None}
    assert with_models == {t.number for t in search.library()}
    # Every trial keeps its score and out-of-fold predictions for the leaderboard.
    assert all(t.oof is not None for t in search.trials if t.state == "complete")


def test_a_regression_searches_the_targets_transform(searches):
    search = searches["diabetes"]
    transformed = [t for t in search.trials if t.target_transform not in (None, "none")]
    assert transformed, [t.row("rmse") for t in search.trials]
    # The floor families try their defaults on the log target right after their defaults.
    first = transformed[0]
    assert first.target_transform == "log" and first.family == "lightgbm"
    assert first.row("rmse")["target_transform"] == "log"
    # Its fold models predict on the target's own scale (the target is 25 to 346).
    kept = [t for t in transformed if t.pipelines is not None] or [first]
    if kept[0].pipelines is not None:
        frame = datasets.load_diabetes(as_frame=True).frame.drop(columns=["target"])
        predicted = kept[0].pipelines[0].predict(frame)
        assert 5 < predicted.mean() < 100
    assert np.isfinite(first.loss) and first.oof.mean() == pytest.approx(search.y.mean(), rel=0.15)


def test_a_classification_search_has_no_target_transform(searches):
    assert all(t.target_transform is None for t in searches["wine"].trials)
    assert "target_transform" not in searches["wine"].trials[0].row("log_loss")


def test_a_target_with_negative_values_is_offered_the_power_transform_only():
    frame = datasets.load_diabetes(as_frame=True).frame
    frame["target"] = np.exp(frame["target"] / 60) - 20.0  # skewed, with negative values
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(X, y, REGRESSION, "mae", families=["lightgbm"])
    assert search.transforms == ("none", "power")
    family = search.family("lightgbm")
    assert family.portfolio[1] == {"recipe": "default", "target_transform": "power"}
    space = {r.name: r for r in family.space}
    assert space["target_transform"].choices == ("none", "power")


def test_an_unskewed_target_keeps_its_transforms_in_the_search_space_only():
    frame = datasets.load_diabetes(as_frame=True).frame  # skewness 0.44
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(X, y, REGRESSION, "rmse", families=["lightgbm"])
    family = search.family("lightgbm")
    assert family.floor_trials == 1
    assert all("target_transform" not in p for p in family.portfolio)
    assert {r.name: r for r in family.space}["target_transform"].choices == (
        "none",
        "log",
        "power",
    )


def test_a_forest_trial_is_sized_to_stay_under_its_memory_budget():
    import pickle

    from sklearn.datasets import make_classification

    from kiln.automl._search import FOREST_MB, MIN_FOREST_TREES

    X, y = make_classification(8000, 20, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    search = make_search(frame, y, BINARY, "roc_auc", classes=[0, 1], families=["extra_trees"])
    defaults = get_algorithm("extra_trees").hyperparameters({})
    sized = search._sized(defaults)
    assert MIN_FOREST_TREES <= sized["n_estimators"] < defaults["n_estimators"]
    # One fold model as sized, measured: the folds together stay under the budget.
    train, _ = search.folds[0]
    forest = get_algorithm("extra_trees").build_estimator(BINARY, sized, 0)
    forest.set_params(n_jobs=1).fit(X[train], y[train])
    megabytes = len(pickle.dumps(forest)) / 1e6 * len(search.folds)
    assert megabytes <= FOREST_MB, megabytes
    # A small table's forest is left as its hyperparameters say.
    assert sized_on_wine() == get_algorithm("random_forest").hyperparameters({})


def test_a_catboost_trial_is_sized_to_stay_under_its_memory_budget():
    """Depth 10 and 1,500 rounds on ten classes would be five fold models of 680 MB together:
    the depth goes down first (to 6 at most), then the rounds; binary targets keep more."""
    import pickle

    from kiln.automl._search import CATBOOST_MB

    X, y = datasets.load_digits(return_X_y=True)
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(64)])
    search = make_search(
        frame, y, MULTICLASS, "log_loss", classes=list(range(10)), families=["catboost"]
    )
    assert len(search.folds) == 5
    deep = {**get_algorithm("catboost").hyperparameters({}), "depth": 10, "n_estimators": 1500}
    assert search._sized(deep) == {**deep, "depth": 7}  # 84 MB
    # Depth 6 is as low as it goes; then the rounds.
    sized = search._sized({**deep, "n_estimators": 10000})
    assert sized["depth"] == 6 and 4000 < sized["n_estimators"] < 5000
    # One fold model as sized, measured with 50 of its rounds: the folds stay under the budget.
    algorithm = get_algorithm("catboost")
    train, _ = search.folds[0]
    model = algorithm.build_estimator(MULTICLASS, {**sized, "n_estimators": 50}, 0)
    model.set_params(thread_count=1).fit(X[train], y[train])
    megabytes = len(pickle.dumps(model)) / 1e6 * sized["n_estimators"] / 50 * len(search.folds)
    assert megabytes <= CATBOOST_MB * 1.1, megabytes
    # Defaults (depth 6, 500 rounds) are left alone, and a binary target keeps depth 10.
    defaults = get_algorithm("catboost").hyperparameters({})
    assert search._sized(defaults) == defaults
    binary = make_search(frame, (y > 4).astype(int), BINARY, "roc_auc", classes=[0, 1])
    assert binary._sized(deep) == deep


def sized_on_wine() -> dict:
    frame = datasets.load_wine(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(
        X, y, MULTICLASS, "log_loss", classes=[0, 1, 2], families=["random_forest"]
    )
    return search._sized(get_algorithm("random_forest").hyperparameters({}))


def test_a_forest_refit_that_the_deadline_stopped_keeps_its_fold_models():
    # fit_until keeps the trees grown by the deadline: a refit with 30 of its 300 trees
    # replaced ten scored fold models of 300 trees each, and nothing scored it.
    frame = datasets.load_wine(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(X, y, MULTICLASS, "log_loss", classes=[0, 1, 2], families=["extra_trees"])
    now = time.monotonic()
    search.run(now + SECONDS, hard_deadline=now + 4 * SECONDS)
    trial = search.kept()[0]
    assert all(len(p[-1].estimators_) == 300 for p in trial.pipelines)
    trial.fold_seconds = 0.0  # the refit looks affordable; its deadline is 10 ms away
    assert search.refit([trial], 0.01) == {}
    refit = search.refit([trial], 60.0)[trial.number]
    assert len(refit[-1].estimators_) == 300


def test_the_librarys_forests_wait_on_disk_and_the_others_leave_it(tmp_path):
    """A library forest's fold estimators are spilled to an unlinked file (at 300 s, forests
    were the largest part of AutoML's peak memory) and its fitted recipes stay; a trial that
    leaves the library closes its file, and a spilled forest is read back, and refit, as it
    was fitted."""
    frame = datasets.load_wine(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(
        X, y, MULTICLASS, "log_loss", classes=[0, 1, 2], families=["extra_trees", "linear"]
    )
    search.spill_dir = str(tmp_path)
    now = time.monotonic()
    search.run(now + SECONDS, hard_deadline=now + 4 * SECONDS)
    # A trial that ends past the search's deadline is not spilled (it is read back soon); on a
    # busy machine the only forest trial can: spill as if it had ended in time.
    search.spill_until = math.inf
    search._forget_models()
    forests = [t for t in search.trials if t.family == "extra_trees" and t.state == "complete"]
    assert forests, [t.row("log_loss") for t in search.trials]
    library = {t.number for t in search.library()}
    for t in forests:
        if t.number in library:
            assert t.spilled is not None and not t.spilled.closed
            assert all(p.steps[-1][1] is None and len(p.steps) > 1 for p in t.pipelines)
        else:
            assert t.spilled is None and t.pipelines is None
    assert search.spilled[0] >= 1 and search.spilled[1] > 0
    assert not list(tmp_path.iterdir())  # unlinked: nothing is left whatever ends the job
    # The linear models stay in memory: spilling a booster's or a linear model's folds would
    # cost more time than the memory it saves.
    assert all(t.spilled is None for t in search.library() if t.family == "linear")
    trial = next(t for t in search.library() if t.family == "extra_trees")
    handle = trial.spilled
    models = search.fold_models(trial)
    assert handle.closed and trial.spilled is None and models is trial.pipelines
    assert len(models) == len(search.folds)
    oof = np.zeros_like(trial.oof)
    for (_, held), model in zip(search.folds, models, strict=True):
        oof[held] += model.predict_proba(X.iloc[held])
    oof /= np.bincount(np.concatenate([h for _, h in search.folds]))[:, None]
    np.testing.assert_allclose(oof, trial.oof)
    trees = trial.fold_facts["trees"]
    assert trees == min(len(m[-1].estimators_) for m in models)
    refit = search.refit([trial], 60.0)[trial.number]
    assert len(refit[-1].estimators_) == trees
    # A spilled trial that leaves the library closes its file.
    others = [t for t in search.library() if t.spilled is not None]
    for t in others:
        t.loss = math.inf
    search._forget_models()
    assert all(t.spilled is None and t.pipelines is None for t in others)


def test_a_forest_stays_in_memory_when_its_folder_cannot_be_written(tmp_path):
    frame = datasets.load_wine(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(X, y, MULTICLASS, "log_loss", classes=[0, 1, 2], families=["extra_trees"])
    messages = []
    search.log = lambda message, **_: messages.append(message)
    search.spill_dir = str(tmp_path / "missing")
    now = time.monotonic()
    search.run(now + SECONDS, hard_deadline=now + 4 * SECONDS)
    trial = search.kept()[0]
    assert trial.spilled is None and trial.pipelines[0][-1] is not None
    assert search.spill_dir is None
    assert any("stay in memory" in m and "missing" in m for m in messages), messages


def test_a_skewed_target_no_transform_can_give_back_is_searched_untransformed():
    # 39 zeros and a one: very skewed, and Yeo-Johnson's fit cannot give it back. The floor's
    # transformed default took the second transform offered, and there was none.
    X = pd.DataFrame({"a": np.arange(40.0)})
    y = np.array([0.0] * 39 + [1.0])
    search = make_search(X, y, REGRESSION, "rmse", families=["linear"])
    assert search.transforms == ()
    assert all("target_transform" not in p for p in search.families[0].portfolio)


def test_the_first_trial_is_a_floor_candidates_whatever_the_algorithms_order():
    # --algorithms knn,linear ran k-NN first: on a short limit a slow first family could use
    # the time the floor's defaults were promised.
    frame = datasets.load_diabetes(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(X, y, REGRESSION, "rmse", families=["knn", "linear"])
    assert search.pick(100.0).name == "linear"


def test_each_round_runs_the_cheapest_expected_trial_first():
    """A slow family (XGBoost's first trial is expected at 1.5 times the slowest so far) waits
    for the cheap ones of the same round (extra trees: 1 time), whatever the catalog's order."""
    from kiln.automl._search import Trial

    frame = datasets.load_diabetes(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(X, y, REGRESSION, "rmse", families=["linear", "xgboost", "extra_trees"])
    linear = next(f for f in search.families if f.name == "linear")
    done = Trial(1, "linear", "default", {}, loss=50.0, seconds=2.0, pipelines=[], floor=True)
    search.trials.append(done)
    linear.trials, linear.best, linear.slowest, linear.spent = 1, 50.0, 2.0, 2.0
    assert search.pick(100.0).name == "extra_trees"
    next(f for f in search.families if f.name == "extra_trees").trials = 1
    assert search.pick(100.0).name == "xgboost"
    # With 2.5 s left XGBoost's 3 s does not fit; of the next round, linear and the extra trees
    # both expect 2 s, and the catalog's order breaks the tie.
    next(f for f in search.families if f.name == "extra_trees").slowest = 2.0
    assert search.pick(2.5).name == "linear"


def test_a_family_far_behind_goes_on_with_its_portfolio_only_while_it_is_cheap():
    from kiln.automl._search import Trial

    frame = datasets.load_diabetes(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(X, y, REGRESSION, "rmse", families=["linear", "mlp"])
    linear, mlp = search.families
    for family, loss, seconds in ((linear, 50.0, 0.2), (mlp, 80.0, 8.0)):
        trial = Trial(len(search.trials) + 1, family.name, "default", {}, loss=loss)
        trial.seconds, trial.pipelines = seconds, []
        search.trials.append(trial)
        family.trials, family.best, family.slowest, family.spent = 1, loss, seconds, seconds
    assert len(mlp.portfolio) > 1 and len(linear.portfolio) > 1
    # 8 s of 100 left is more than 5 %: the MLP, 60 % behind, waits; linear's 0.2 s goes on.
    assert search.pick(100.0).name == "linear"
    linear.trials = len(linear.portfolio)
    assert search.pick(100.0).name == "linear"  # the time shares: the leader's
    # Cheap enough (8 s of 200 s left is 4 %): the MLP's portfolio goes on.
    linear.trials = 1
    assert search.pick(200.0).name == "linear"  # the same round, linear first (0.2 s)
    linear.trials = 2
    assert search.pick(200.0).name == "mlp"


def test_the_power_recipe_leaves_out_columns_it_cannot_change():
    rows = 200
    frame = pd.DataFrame(
        {
            "constant": np.zeros(rows),
            "two_values": np.arange(rows) % 2,
            "one_rare_value": np.r_[np.zeros(rows - 5), np.arange(1, 6)],
            "spread": np.random.default_rng(0).lognormal(size=rows),
        }
    )
    types = {c: NUMERIC for c in frame.columns}
    recipes = _recipes(types, list(frame.columns), [], frame=frame)
    assert recipes["scaled"]["power"] == [
        {"step": "transform", "columns": ["spread"], "function": "yeo_johnson"}
    ]


def test_the_fit_workers_peak_memory_is_read_before_they_stop():
    frame = datasets.load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    search = make_search(X, y, BINARY, "roc_auc", classes=[0, 1], families=["linear"])
    search.workers = 2
    search.run(time.monotonic() + 2)
    # Each worker imported scikit-learn and fitted a model: tens of megabytes at least.
    assert search.workers_peak_kb > 30_000
