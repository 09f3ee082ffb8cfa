"""The AutoML search: candidate algorithms and recipes, their hyperparameters searched with
Optuna within a deadline, and each trial's fold models and out-of-fold predictions kept for the
ensemble.

Every trial is cross-validated (a holdout split on large data) and fits one model per core at
once (joblib's process pool), each with one thread: on small tables one-thread fits side by side
use the cores far better than one fit with several threads. How the time is shared between
algorithms is kiln's own (below, ``Search.pick``); sampling within an algorithm is Optuna's TPE.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO

import numpy as np
import pandas as pd

from kiln.algorithms import (
    ALGORITHMS,
    BINARY,
    MULTICLASS,
    REGRESSION,
    Algorithm,
    best_iteration,
    get_algorithm,
)
from kiln.automl._ensemble import full_proba
from kiln.automl._target import (
    MEAN_METRICS,
    BackTransformed,
    TargetTransform,
    smearing_points,
    target_transforms,
    unwrap,
)
from kiln.problems import LOWER_IS_BETTER
from kiln.training import Problem, Validation, grows_in_steps
from kiln.tuning import Range, search_space

# Metrics AutoML can optimise, by problem type (the first is kiln.problems.DEFAULT_OBJECTIVE).
METRICS = {
    BINARY: ("roc_auc", "log_loss", "accuracy", "f1", "pr_auc"),
    MULTICLASS: ("log_loss", "accuracy", "f1_macro", "f1_weighted", "roc_auc_macro"),
    REGRESSION: ("rmse", "mse", "mae", "r2"),
}
# Candidate algorithms (those with AutoML hints), in the order their first (default) trial runs.
FAMILIES = tuple(
    a.name
    for a in sorted((a for a in ALGORITHMS.values() if a.automl), key=lambda a: a.automl.order)
)
SCALE_SENSITIVE = {name for name in FAMILIES if ALGORITHMS[name].scale_numeric}
CV_FOLDS = 5
SMALL_ROWS = 3_000  # up to this many rows, cross-validation is repeated (REPEATS_SMALL times)
REPEATS_SMALL = 2
# ... and this many cells (rows × columns × (classes - 1)): wide tables are not small, nor are
# many classes (a boosted fit grows a tree per class)
SMALL_CELLS = 100_000
HOLDOUT_ROWS = 50_000  # above this many rows, one holdout split instead of 5 folds
MIN_SHARE = 0.01
# A family whose time share is under PORTFOLIO_SHARE (its best score some 6 % behind the
# leader's) runs the rest of its portfolio only while a trial costs at most PORTFOLIO_CHEAP of
# the time left.
PORTFOLIO_SHARE = 0.05
PORTFOLIO_CHEAP = 0.05
SKEWED = 0.5  # |skewness| of a regression target above which it counts as skewed
FOREST_MB = 128  # a forest trial's fold models together: trees are sized to stay under it
# A CatBoost trial's fold models together (its symmetric trees have 2**depth leaves, a value per
# class in each: 8.8 bytes measured): depth is lowered (to MIN_OBLIVIOUS_DEPTH), then rounds.
CATBOOST_MB = 128
LEAF_OUTPUT_BYTES = 8.8
MIN_OBLIVIOUS_DEPTH = 6
MIN_FOREST_TREES = 100
# Nodes per training row of a fully grown classification tree: 0.05–0.24 (random forest) and
# 0.38–0.61 (extra trees) measured on the credit card, mortgage and spam benchmark sets.
NODES_PER_ROW_CLASSIFICATION = 0.7
EARLY_STOPPING_SHARE = 0.1


def metric_loss(metric: str, problem_type: str, y: np.ndarray) -> Callable[[np.ndarray], float]:
    """A function of out-of-fold predictions (probabilities or values) to minimise."""
    from sklearn import metrics as skm

    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    labels = None if problem_type == REGRESSION else np.arange(int(y.max()) + 1)

    def score(pred: np.ndarray) -> float:
        if problem_type == REGRESSION:
            functions = {
                "rmse": lambda: skm.root_mean_squared_error(y, pred),
                "mse": lambda: skm.mean_squared_error(y, pred),
                "mae": lambda: skm.mean_absolute_error(y, pred),
                "r2": lambda: skm.r2_score(y, pred),
            }
            return functions[metric]()
        proba = np.clip(pred, 1e-15, 1.0)
        proba = proba / proba.sum(axis=1, keepdims=True)
        hard = proba.argmax(axis=1)
        functions = {
            "log_loss": lambda: skm.log_loss(y, proba, labels=labels),
            "accuracy": lambda: skm.accuracy_score(y, hard),
            "roc_auc": lambda: skm.roc_auc_score(y, proba[:, 1]),
            "pr_auc": lambda: skm.average_precision_score(y, proba[:, 1]),
            "f1": lambda: skm.f1_score(y, hard, zero_division=0),
            "f1_macro": lambda: skm.f1_score(y, hard, average="macro", zero_division=0),
            "f1_weighted": lambda: skm.f1_score(y, hard, average="weighted", zero_division=0),
            "roc_auc_macro": lambda: skm.roc_auc_score(
                y, proba, multi_class="ovr", average="macro", labels=labels
            ),
        }
        return functions[metric]()

    return lambda pred: sign * float(score(pred))


@dataclass
class Trial:
    """One candidate: an algorithm, a recipe and hyperparameters, scored out of fold."""

    number: int
    family: str
    recipe: str
    hyperparameters: dict
    loss: float = math.inf
    seconds: float = 0.0
    state: str = "complete"  # complete | failed
    error: str | None = None
    oof: np.ndarray | None = None
    pipelines: list | None = None
    # The unlinked file a forest's fold estimators wait in (pipelines then end in None; see
    # Search._forget_models and Search.fold_models).
    spilled: IO[bytes] | None = None
    # What a refit on all rows needs of the fold models, read when they were fitted: their best
    # iterations (early stopping), residual quantiles (a transformed target) and fewest trees.
    fold_facts: dict | None = None
    problem: object | None = None  # the fit's settings (no data), to refit on all rows
    fold_seconds: float = 0.0
    target_transform: str | None = None  # regression: none | log | power
    floor: bool = False  # a floor candidate's default-settings trial

    def row(self, metric: str) -> dict:
        value = None
        if math.isfinite(self.loss):
            value = round(self.loss if metric in LOWER_IS_BETTER else -self.loss, 6)
        return {
            "trial": self.number,
            "algorithm": self.family,
            "recipe": self.recipe,
            "hyperparameters": self.hyperparameters,
            **({"target_transform": self.target_transform} if self.target_transform else {}),
            metric: value,
            "fit_seconds": round(self.seconds, 3),
            "state": self.state,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class Family:
    """A candidate algorithm: its Optuna study and what it has cost and scored so far."""

    name: str
    algorithm: Algorithm
    space: list
    recipes: dict[str, list | None]
    portfolio: list[dict]
    study: object
    spent: float = 0.0
    trials: int = 0
    failures: int = 0
    best: float = math.inf
    slowest: float = 0.0
    pending: list = field(default_factory=list)
    floor_trials: int = 0  # its first trials that run before any other family's (floor: 1 or 2)


class OutOfTime(Exception):
    """A trial's fold would start after the search's hard deadline."""


def _fit_fold(problem, X_train, y_train, X_held, y_held, must_finish=False, target=None):
    """Fit one fold (in a pool process): the pipeline, its held-out predictions, its seconds.

    Models that stop early (boosted trees, the neural net) stop on an inner split of the fold's
    training rows, never on the held-out rows: early stopping on the rows a model is scored on
    would flatter exactly those models, and the ensemble would lean on them.

    ``target``: (transform, mean) for a regression trial on a transformed target: the model
    fits the transformed values, and its back-transform is corrected with its residuals on this
    fold's held-out rows (rows it never saw) when ``mean`` (see kiln.automl._target).
    """
    import warnings

    if not must_finish and problem.deadline is not None and time.time() > problem.deadline:
        raise OutOfTime("the time limit was reached before this fold started")
    started = time.perf_counter()
    transform = None
    if target is not None:
        transform = TargetTransform(target[0]).fit(y_train)
        y_train = transform.forward(y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if problem.algorithm.fit_options is not None:
            X_fit, y_fit, X_stop, y_stop = _early_stopping_split(problem, X_train, y_train)
            pipeline, _ = problem.fit(X_fit, y_fit, X_stop, y_stop)
        else:
            pipeline, _ = problem.fit(X_train, y_train)
        if transform is not None:
            wrapper = BackTransformed(pipeline.steps[-1][1], transform)
            pipeline.steps[-1] = ("model", wrapper)
            if target[1]:
                residuals = transform.forward(y_held) - wrapper.predict_transformed(
                    pipeline[:-1].transform(X_held)
                )
                wrapper.residuals = smearing_points(transform.kind, residuals)
        if problem.problem_type == REGRESSION:
            held = problem.model(pipeline).predict_values(X_held)
        else:
            held = full_proba(pipeline, X_held, len(problem.classes))
    return pipeline, held, time.perf_counter() - started


def _refit(problem, X, y, target=None, residuals=None):
    """Fit on all rows (in a pool process), without early stopping; a transformed target's
    model keeps its folds' residuals for the smearing correction."""
    import warnings

    transform = None
    if target is not None:
        transform = TargetTransform(target).fit(y)
        y = transform.forward(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = problem.fit(X, y)[0]
    if transform is not None:
        pipeline.steps[-1] = ("model", BackTransformed(pipeline.steps[-1][1], transform, residuals))
    return pipeline


def _early_stopping_split(problem, X, y):
    """(X_fit, y_fit, X_stop, y_stop): a seeded 10 % of the rows (stratified when every class
    can be) to stop on."""
    from sklearn.model_selection import train_test_split

    size = max(EARLY_STOPPING_SHARE, min(0.5, 20 / max(len(y), 1)))
    stratify = None
    if problem.problem_type != REGRESSION:
        counts = np.bincount(y)
        if counts[counts > 0].min() >= 2:
            stratify = y
    fit, stop = train_test_split(
        np.arange(len(y)), test_size=size, random_state=problem.seed, stratify=stratify
    )
    return X.iloc[fit], y[fit], X.iloc[stop], y[stop]


class Search:
    """Runs trials until the deadline, sharing the time between algorithm families."""

    def __init__(
        self,
        *,
        problem_type: str,
        X: pd.DataFrame,
        y: np.ndarray,
        column_types: dict[str, str],
        features: list[str],
        classes: list | None,
        metric: str,
        recipes: dict[str, dict[str, list | None]],
        families: list[str],
        imbalanced: bool,
        workers: int,
        seed: int,
        log: Callable[..., None],
        spill_dir: str | None = None,
    ):
        self.problem_type = problem_type
        self.spill_dir = spill_dir  # where the library's forests wait on disk (None: in memory)
        self.spilled = [0, 0]  # trials written there, and their bytes
        self.spill_until = math.inf  # time.monotonic(): run() sets its deadline
        self.X, self.y = X, y
        self.column_types = column_types
        self.features = features
        self.classes = classes
        self.metric = metric
        self.workers = workers
        self.seed = seed
        self.log = log
        self.trials: list[Trial] = []
        self.workers_peak_kb = 0  # the fit workers' peak memory, read before they stop
        self.folds = self._folds()
        # The rows predictions are scored on: all of them (cross-validation) or the held ones.
        self.rows = np.unique(np.concatenate([held for _, held in self.folds]))
        self.loss = metric_loss(metric, problem_type, y[self.rows])
        self.transforms = target_transforms(y) if problem_type == REGRESSION else ()
        # A skewed target's transformed defaults join the floor's first round; any target's
        # transform is a dimension of every family's search.
        self.skewed = bool(self.transforms) and abs(_skewness(y)) > SKEWED
        self.families = [
            self._family(name, recipes[name], imbalanced) for name in families if name in recipes
        ]
        self._parallel = None

    # -- setup ------------------------------------------------------------------------------------
    def _folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import train_test_split

        n = len(self.X)
        stratify = self.problem_type != REGRESSION
        if n > HOLDOUT_ROWS:
            train, held = train_test_split(
                np.arange(n),
                test_size=0.2,
                random_state=self.seed,
                stratify=self.y if stratify else None,
            )
            return [(np.sort(train), np.sort(held))]
        # Small tables: out-of-fold scores are noisy, so every row is predicted twice (two
        # shuffles of the folds) and its predictions averaged.
        # A boosted fit grows a tree per class: ten classes cost nine times two.
        cells = n * self.X.shape[1] * max(1, len(self.classes or ()) - 1)
        repeats = REPEATS_SMALL if n <= SMALL_ROWS and cells <= SMALL_CELLS else 1
        if stratify:
            smallest = int(np.bincount(self.y).min())
            folds = max(2, min(CV_FOLDS, smallest))
            scheme = Validation("repeated_stratified_kfold", folds, repeats)
        else:
            scheme = Validation("repeated_kfold", CV_FOLDS, repeats)
        # The registry's splitter without fold_indices' class check: AutoML keeps a class rarer
        # than the folds (scikit-learn warns; fold models that never saw it predict 0 for it).
        return list(scheme.strategy.splitter(scheme, self.seed).split(np.zeros(n), self.y))

    @property
    def validation(self) -> str:
        if len(self.folds) == 1:
            return "holdout (20% of rows)"
        repeats = round(sum(len(h) for _, h in self.folds) / len(self.X))
        prefix = f"{repeats}× " if repeats > 1 else ""
        return f"{prefix}{self.fold_count}-fold cross-validation"

    @property
    def fold_count(self) -> int:
        """Folds per repeat (each row is held out once per repeat)."""
        held = sum(len(h) for _, h in self.folds)
        repeats = max(1, round(held / len(self.X)))
        return len(self.folds) // repeats

    def _family(self, name: str, recipes: dict, imbalanced: bool) -> Family:
        import optuna

        algorithm = get_algorithm(name)
        space = search_space(algorithm, None)
        if name in ("random_forest", "extra_trees"):
            # Forests gain little past a few hundred trees, and cost grows with every one.
            space = [
                Range("n_estimators", "int", 100, 500, "log") if r.name == "n_estimators" else r
                for r in space
            ]
        params = {p.name for p in algorithm.params}
        if imbalanced and "class_weight" in params:
            space.append(Range("class_weight", "categorical", choices=("none", "balanced")))
        if len(recipes) > 1:
            space.append(Range("recipe", "categorical", choices=tuple(recipes)))
        if self.transforms:
            space.append(Range("target_transform", "categorical", choices=self.transforms))
        sampler = optuna.samplers.TPESampler(
            seed=self.seed,
            n_startup_trials=4,
            multivariate=True,
            warn_independent_sampling=False,
        )
        study = optuna.create_study(direction="minimize", sampler=sampler)
        first = next(iter(recipes))
        portfolio = [{"recipe": first}]
        floor_trials = 1 if algorithm.automl.floor else 0
        if self.skewed and algorithm.automl.floor:
            # A floor candidate's defaults on the transformed target come next: a skewed
            # target's first fix a user would try (whether it helps is the score's to say).
            portfolio.append({"recipe": first, "target_transform": self.transforms[1]})
            floor_trials = 2
        portfolio += [{"recipe": first, **p} for p in get_algorithm(name).automl.portfolio]
        portfolio += [{"recipe": r} for r in list(recipes)[1:]]
        return Family(name, algorithm, space, recipes, portfolio, study, floor_trials=floor_trials)

    # -- the loop ---------------------------------------------------------------------------------
    def run(
        self,
        deadline: float,
        on_trial: Callable[[Trial], None] | None = None,
        *,
        hard_deadline: float | None = None,
        last_stop: float | None = None,
    ) -> None:
        """Run trials until ``deadline`` (time.monotonic()) leaves no room for another. A trial
        still running at ``hard_deadline`` stops: boosted fits keep the trees grown so far, and
        folds not yet started are not fit (the trial is dropped)."""
        from joblib import Parallel

        hard = hard_deadline if hard_deadline is not None else deadline
        self.spill_until = deadline
        self.stop_time = time.time() + (hard - time.monotonic())
        self.last_stop_time = time.time() + (last_stop - time.monotonic()) if last_stop else None

        with Parallel(
            n_jobs=self.workers, backend="loky" if self.workers > 1 else "sequential"
        ) as (parallel):
            self._parallel = parallel
            while True:
                now = time.monotonic()
                family = self.pick(deadline - now, hard - now)
                if family is None:
                    break
                trial = self._run_trial(family, deadline)
                if trial is None:
                    break
                if on_trial is not None:
                    on_trial(trial)
        self._parallel = None
        if self.workers > 1:
            # Their peak memory, read before they go (an ended worker is counted only once
            # this process has waited for it, which loky's shutdown does not promise).
            self.workers_peak_kb = max([self.workers_peak_kb, *live_children_peak_kb()])
            # The pool's processes would otherwise idle (holding memory) until this one exits.
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=False, kill_workers=True)

    def _estimate(self, family: Family) -> float:
        """Seconds the family's next trial will likely take."""
        if family.trials:
            return family.slowest
        seen = max((t.seconds for t in self.trials), default=0.0)
        return seen * get_algorithm(family.name).automl.first_trial_cost

    def pick(self, remaining: float, hard_remaining: float | None = None) -> Family | None:
        """The family to run next: every family's portfolio first (one config per family per
        round, the cheapest expected trial first, ties in FAMILIES order), then a share of the
        time proportional to how close its best score is to the leader's, so the best families
        get most of it and cheap trials naturally get more of them."""
        alive = [f for f in self.families if f.failures < 3]
        if not self.kept():
            # No model yet: one more trial whatever the clock says: a floor candidate's (the
            # --algorithms order can name a slower family first), else the first family left.
            first = [f for f in alive if f.trials < f.floor_trials] or alive
            return first[0] if first else None
        floors = [f for f in alive if f.trials < f.floor_trials]
        if floors and (remaining if hard_remaining is None else hard_remaining) > 0:
            # Every floor candidate's defaults run before anything else (then, for a skewed
            # target, its defaults on the transformed target), whatever their estimated cost
            # and until the hard deadline: the chosen model is then never worse than the best
            # of them.
            fewest = min(f.trials for f in floors)
            return next(f for f in floors if f.trials == fewest)
        eligible = [f for f in alive if self._estimate(f) < remaining and remaining > 0]
        if not eligible:
            return None
        scored = [f for f in eligible if math.isfinite(f.best)]
        leader = min((f.best for f in scored), default=math.inf)
        scale = 0.02 * abs(leader) + 1e-9

        def share(f: Family) -> float:
            return max(math.exp(-(f.best - leader) / scale), MIN_SHARE)

        # A family far behind the leader after its first trial goes on with its portfolio only
        # while its trials are cheap: it may still help the ensemble, but not at any price
        # (the MLP's second configuration took a quarter of a 60 s search on bikeshare).
        starting = [
            f
            for f in eligible
            if f.trials < len(f.portfolio)
            and (
                f.trials == 0
                or share(f) >= PORTFOLIO_SHARE
                or self._estimate(f) <= PORTFOLIO_CHEAP * remaining
            )
        ]
        if starting:
            # Round by round, the cheapest expected trial first: a slow family (CatBoost on ten
            # classes) then cannot starve the cheap, different ones of their first trial.
            fewest = min(f.trials for f in starting)
            return min((f for f in starting if f.trials == fewest), key=self._estimate)
        if not scored:
            return eligible[0]
        return min(scored, key=lambda f: f.spent / share(f))

    def _next_config(self, family: Family):
        """(Optuna trial or None, recipe name, target transform, hyperparameters) for the
        family's next trial."""
        if family.trials < len(family.portfolio):
            config = dict(family.portfolio[family.trials])
            target = config.pop("target_transform", "none") if self.transforms else None
            return None, config.pop("recipe"), target, config
        trial = family.study.ask()
        values = {r.name: r.suggest(trial) for r in family.space}
        recipe = values.pop("recipe", next(iter(family.recipes)))
        target = values.pop("target_transform", "none") if self.transforms else None
        return trial, recipe, target, values

    def _tell_portfolio(
        self, family: Family, recipe: str, target: str | None, hp: dict, loss: float
    ) -> None:
        """Record a portfolio trial in the family's study (values clipped into the ranges), so
        TPE learns from it."""
        import optuna

        distributions, params = {}, {}
        values = {**family.algorithm.hyperparameters(hp), "recipe": recipe}
        if target is not None:
            values["target_transform"] = target
        for r in family.space:
            if r.scale == "reverse_log" or r.name not in values:
                continue
            value = values[r.name]
            if r.kind == "categorical":
                if value not in r.choices:
                    continue
                distributions[r.name] = optuna.distributions.CategoricalDistribution(
                    list(r.choices)
                )
            elif value is None:
                continue
            else:
                value = min(max(value, r.low), r.high)
                kind = optuna.distributions.IntDistribution
                if r.kind == "float":
                    kind = optuna.distributions.FloatDistribution
                    value = float(value)
                distributions[r.name] = kind(r.low, r.high, log=r.scale == "log")
            params[r.name] = value
        family.study.add_trial(
            optuna.trial.create_trial(params=params, distributions=distributions, value=loss)
        )

    def _run_trial(self, family: Family, deadline: float) -> Trial | None:
        optuna_trial, recipe, target, hp = self._next_config(family)
        number = len(self.trials) + 1
        trial = Trial(number, family.name, recipe, hp, target_transform=target)
        trial.floor = family.algorithm.automl.floor and family.trials == 0
        started = time.perf_counter()
        try:
            hyperparameters = self._sized(family.algorithm.hyperparameters(hp))
            problem = Problem(
                problem_type=self.problem_type,
                algorithm=family.algorithm,
                hyperparameters=hyperparameters,
                column_types=self.column_types,
                features=self.features,
                classes=self.classes,
                seed=self.seed,
                recipe=family.recipes[recipe],
                threads=1,
                deadline=self.stop_time if self.kept() else self.last_stop_time,
            )
            trial.hyperparameters = hyperparameters
            # Until one trial completes there is no model at all: every fold of the first one
            # runs (boosted fits still stop growing trees when the time is up).
            results = self._fit_folds(problem, deadline, must_finish=not self.kept(), target=target)
            trial.problem = problem
            loss = self.loss(results[1])
            facts = _fold_facts(problem.algorithm, results[0])
        except OutOfTime as exc:
            trial.state, trial.error = "out of time", str(exc)
            if optuna_trial is not None:
                family.study.tell(optuna_trial, state=_failed())
            results = None
        except Exception as exc:  # noqa: BLE001 - a failing candidate must not end the search
            trial.state, trial.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
            family.failures += 1
            if optuna_trial is not None:
                family.study.tell(optuna_trial, state=_failed())
            self.log(f"Trial {number} ({family.name}) failed: {trial.error}", level="WARNING")
            results = None
        trial.seconds = time.perf_counter() - started
        family.spent += trial.seconds
        family.trials += 1
        family.slowest = max(family.slowest, trial.seconds)
        if results is not None:
            pipelines, oof = results
            trial.oof, trial.pipelines = oof, pipelines
            trial.fold_facts = facts
            trial.fold_seconds = self._last_fold_seconds
            trial.loss = loss
            if not math.isfinite(trial.loss):
                trial.loss = math.inf
            family.best = min(family.best, trial.loss)
            if optuna_trial is None:
                self._tell_portfolio(family, recipe, target, hp, trial.loss)
            else:
                family.study.tell(optuna_trial, trial.loss)
        self.trials.append(trial)
        self._forget_models()
        return trial

    def _sized(self, hyperparameters: dict) -> dict:
        """A forest's trees sized so that its fold models stay under FOREST_MB: fewer trees
        (down to MIN_FOREST_TREES), then larger leaves. A fully grown regression tree has about
        two nodes per training row; ten fold models of 300 such trees on 5,000 rows take a
        gigabyte, and on 80,000 rows one model does. A classification tree stops at pure
        leaves: NODES_PER_ROW_CLASSIFICATION."""
        if {"n_estimators", "depth", "l2_leaf_reg"} <= set(hyperparameters):
            return self._sized_catboost(hyperparameters)
        if not {"n_estimators", "min_samples_leaf", "max_features"} <= set(hyperparameters):
            return hyperparameters
        rows = float(np.mean([len(train) for train, _ in self.folds]))
        node_bytes = 64 + 8 * (len(self.classes) if self.classes else 1)
        leaf = max(1, int(hyperparameters["min_samples_leaf"]))
        depth = hyperparameters.get("max_depth")

        def tree_bytes(leaf: int) -> float:
            if self.problem_type == REGRESSION:
                nodes = 2.0 * rows / leaf
            else:
                # Larger leaves cut a classification tree less than in proportion: many of its
                # leaves are pure before they reach the minimum (extra trees at leaf 3 measured
                # 0.25 nodes per row in tests/automl/test_search.py, above 0.7 / 3).
                nodes = NODES_PER_ROW_CLASSIFICATION * rows / leaf**0.5
            if depth:
                nodes = min(nodes, 2.0 ** (depth + 1))
            return nodes * node_bytes * len(self.folds)

        budget = FOREST_MB * 1e6
        trees = int(hyperparameters["n_estimators"])
        if trees * tree_bytes(leaf) <= budget:
            return hyperparameters
        trees = max(min(trees, MIN_FOREST_TREES), int(budget / tree_bytes(leaf)))
        while trees * tree_bytes(leaf) > budget:
            leaf += max(1, leaf // 4)
        return {**hyperparameters, "n_estimators": trees, "min_samples_leaf": leaf}

    def _sized_catboost(self, hyperparameters: dict) -> dict:
        """CatBoost's rounds and depth sized so that its fold models stay under CATBOOST_MB:
        at depth 10, 1,500 rounds on ten classes, ten fold models would take 1.3 GB (and fit
        for minutes). Early stopping usually ends sooner; the budget assumes every round."""
        outputs = len(self.classes) if self.classes and len(self.classes) > 2 else 1
        folds = len(self.folds)
        rounds, depth = int(hyperparameters["n_estimators"]), int(hyperparameters["depth"])

        def megabytes(rounds: int, depth: int) -> float:
            return rounds * 2.0**depth * outputs * LEAF_OUTPUT_BYTES * folds / 1e6

        if megabytes(rounds, depth) <= CATBOOST_MB:
            return hyperparameters
        while depth > MIN_OBLIVIOUS_DEPTH and megabytes(rounds, depth) > CATBOOST_MB:
            depth -= 1
        rounds = max(1, min(rounds, int(CATBOOST_MB / megabytes(1, depth))))
        return {**hyperparameters, "depth": depth, "n_estimators": rounds}

    def _target(self, transform: str | None):
        """``_fit_fold``'s target argument for a trial's transform (None: the target as is)."""
        if transform in (None, "none"):
            return None
        return transform, self.metric in MEAN_METRICS

    def _fit_folds(self, problem, deadline: float, must_finish: bool = False, target=None):
        from joblib import delayed

        X, y = self.X, self.y
        target = self._target(target)
        tasks = [
            delayed(_fit_fold)(
                problem, X.iloc[train], y[train], X.iloc[held], y[held], must_finish, target
            )
            for train, held in self.folds
        ]
        results = self._parallel(tasks)
        self._last_fold_seconds = float(np.mean([r[2] for r in results]))
        pipelines = [r[0] for r in results]
        first = results[0][1]
        oof = np.zeros((len(X), *first.shape[1:]), dtype=float)
        times = np.zeros(len(X))
        for (_, held), (_, predictions, _) in zip(self.folds, results, strict=True):
            oof[held] += predictions
            times[held] += 1
        oof = oof[self.rows] / times[self.rows].reshape(-1, *([1] * (oof.ndim - 1)))
        return pipelines, oof

    def _forget_models(self) -> None:
        """Keep the fold models of the ensemble library's trials only; every trial's score and
        out-of-fold predictions stay. A dropped trial can never re-enter the library: it only
        holds each family's best and the best few overall, and a trial that left it was beaten
        on both counts. A library forest's fold estimators (up to FOREST_MB: ten fold models of
        fully grown trees) wait on disk, from which the few the ensemble keeps are read back:
        at 300 s, the library's forests were the largest part of AutoML's peak memory."""
        keep = {t.number for t in self.library()}
        for t in self.trials:
            if t.number not in keep:
                t.pipelines = None
                if t.spilled is not None:
                    t.spilled.close()  # an unlinked file: closing it frees its disk space
                    t.spilled = None
            elif (
                t.pipelines is not None
                and t.spilled is None
                and self.spill_dir is not None
                and time.monotonic() < self.spill_until  # the last trials' are read back soon
                and grows_in_steps(unwrap(t.pipelines[0][-1]))
            ):
                self._spill(t)

    def _spill(self, trial: Trial) -> None:
        """Write a trial's fold estimators to an unlinked file in ``spill_dir`` (the kernel
        frees it when the job's process ends, however it ends). Its fitted recipes stay in
        memory: share_identical_steps merges them with other members' by their pickled bytes."""
        import joblib

        handle = None
        try:
            # The file outlives this call: the trial keeps it open until it is read back.
            handle = tempfile.TemporaryFile(dir=self.spill_dir, prefix="kiln-automl-")  # noqa: SIM115
            joblib.dump([p.steps[-1][1] for p in trial.pipelines], handle)
        except OSError as exc:
            if handle is not None:
                handle.close()
            self.log(
                f"Forest candidates' fold models stay in memory: writing them to "
                f"{self.spill_dir} failed ({exc}).",
                level="WARNING",
            )
            self.spill_dir = None
            return
        for pipeline in trial.pipelines:
            pipeline.steps[-1] = (pipeline.steps[-1][0], None)
        trial.spilled = handle
        self.spilled[0] += 1
        self.spilled[1] += handle.tell()

    def fold_models(self, trial: Trial) -> list:
        """A library trial's fold models, its estimators read back (in place) if they were
        spilled to disk."""
        if trial.spilled is not None:
            import joblib

            trial.spilled.seek(0)
            estimators = joblib.load(trial.spilled)
            trial.spilled.close()
            trial.spilled = None
            for pipeline, estimator in zip(trial.pipelines, estimators, strict=True):
                pipeline.steps[-1] = (pipeline.steps[-1][0], estimator)
        return trial.pipelines

    def release_disk(self) -> None:
        """Close the spilled trials' files (unlinked: their disk space is freed); those trials
        lose their models, as a trial that leaves the library does."""
        for t in self.trials:
            if t.spilled is not None:
                t.spilled.close()
                t.spilled, t.pipelines = None, None

    def refit(self, trials: list[Trial], seconds: float) -> dict[int, object]:
        """Refit trials on all rows, in the order given, as many as fit in ``seconds``:
        {trial number: pipeline}. Early-stopped models get their folds' mean best iteration
        (scaled to the larger training set) instead of stopping early again."""
        from joblib import Parallel, delayed

        train_share = np.mean([len(train) for train, _ in self.folds]) / len(self.X)
        budget = seconds * self.workers
        chosen = []
        for trial in trials:
            cost = trial.fold_seconds / max(train_share, 0.1)
            if cost <= budget:
                chosen.append(trial)
                budget -= cost
        if not chosen:
            return {}
        tasks = []
        for trial in chosen:
            problem = replace(trial.problem, deadline=time.time() + seconds)
            algorithm, facts = problem.algorithm, trial.fold_facts
            best = facts["best_iterations"]
            if best and algorithm.iterations_param in problem.hyperparameters:
                rounds = int(round(np.mean(best) / (1 - EARLY_STOPPING_SHARE)))
                problem.hyperparameters = {
                    **problem.hyperparameters,
                    algorithm.iterations_param: max(rounds, 1),
                }
            target, residuals = self._target(trial.target_transform), None
            if target is not None and target[1]:
                residuals = facts["residuals"]
            tasks.append(delayed(_refit)(problem, self.X, self.y, target and target[0], residuals))
        workers = min(self.workers, len(tasks))
        backend = "loky" if workers > 1 else "sequential"
        with Parallel(n_jobs=workers, backend=backend) as parallel:
            pipelines = parallel(tasks)
        return {
            t.number: p
            for t, p in zip(chosen, pipelines, strict=True)
            if _fully_grown(p, t.fold_facts["trees"])
        }

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    def library(self, top: int = 3) -> list[Trial]:
        """The ensemble's candidates, best first: each family's best trial and the best ``top``
        overall. Many near-identical configurations of one family would let greedy selection
        fit the out-of-fold noise."""
        kept = self.kept()
        best_of_family: dict[str, Trial] = {}
        for trial in kept:
            best_of_family.setdefault(trial.family, trial)
        chosen = {t.number for t in kept[:top]} | {t.number for t in best_of_family.values()}
        return [t for t in kept if t.number in chosen]

    def kept(self) -> list[Trial]:
        """Completed trials with models, best first."""
        return sorted(
            (t for t in self.trials if t.pipelines is not None and math.isfinite(t.loss)),
            key=lambda t: t.loss,
        )


def _fold_facts(algorithm: Algorithm, pipelines: list) -> dict:
    """What a refit on all rows needs of a trial's fold models (see Trial.fold_facts)."""
    models = [unwrap(p[-1]) for p in pipelines]
    best = [best_iteration(algorithm, m) for m in models]
    residuals = [getattr(p[-1], "residuals", None) for p in pipelines]
    return {
        "best_iterations": [b for b in best if b],
        # The folds' residual quantiles, averaged: the refit has no unseen rows.
        "residuals": (
            np.mean(residuals, axis=0) if all(r is not None for r in residuals) else None
        ),
        "trees": (min(len(m.estimators_) for m in models) if grows_in_steps(models[0]) else None),
    }


def _fully_grown(refit, fold_trees: int | None) -> bool:
    """Whether a refit forest has as many trees as its fold models: one the deadline stopped
    part-way (kiln.training's fit_until keeps the trees grown so far) was never scored, and its
    fold models, which were, stay instead."""
    estimator = unwrap(refit[-1])
    if not grows_in_steps(estimator) or fold_trees is None:
        return True
    return len(estimator.estimators_) >= fold_trees


def live_children_peak_kb() -> list[int]:
    """Peak resident memory (kB) of this process's live descendants: Linux's VmHWM, else
    their current RSS."""
    import psutil

    peaks = []
    for child in psutil.Process().children(recursive=True):
        try:
            with open(f"/proc/{child.pid}/status") as status:
                line = next(x for x in status if x.startswith("VmHWM:"))
            peaks.append(int(line.split()[1]))
        except (OSError, StopIteration, ValueError):
            try:
                peaks.append(child.memory_info().rss // 1024)
            except psutil.Error:
                continue  # it ended meanwhile (RUSAGE_CHILDREN has it once waited for)
    return peaks


def _skewness(y: np.ndarray) -> float:
    from scipy.stats import skew

    return float(skew(np.asarray(y, dtype=float)))


def _failed():
    import optuna

    return optuna.trial.TrialState.FAIL
