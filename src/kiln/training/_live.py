"""Per-iteration validation loss written while a boosted model trains, so that a tuning job can
prune a trial that is clearly worse than others at the same iteration (stopping its process)."""

from __future__ import annotations

from typing import Any

LIVE_METRIC = "live_validation_loss"
# The algorithms of kiln's own epoch loop (kiln.algorithms._iterative), whose fit takes deadline=.
EPOCH_TRAINED = ("linear_learner", "mlp", "factorization_machines")
EVERY = 10  # iterations per write: one small transaction, not one per tree


class LiveLoss:
    """Buffers the validation loss by iteration and writes it to the job's metrics."""

    def __init__(self, context, every: int = EVERY):
        self.context, self.every = context, every
        self.values: list[float] = []
        self.written = 0

    def add(self, value: float) -> None:
        self.values.append(float(value))
        if len(self.values) - self.written >= self.every:
            self.flush()

    def flush(self) -> None:
        new = self.values[self.written :]
        if new:
            self.context.log_metric_series(LIVE_METRIC, new, start_step=self.written + 1)
            self.written = len(self.values)


def attach(algorithm: str, estimator: Any, options: dict, live: LiveLoss) -> None:
    """Hook ``live`` into a LightGBM or XGBoost fit (other algorithms report nothing live)."""
    if algorithm == "lightgbm":

        def callback(env) -> None:
            for data_name, _metric, value, _higher in env.evaluation_result_list:
                if data_name == "validation":
                    live.add(value)
                    return

        options.setdefault("callbacks", []).append(callback)
    elif algorithm == "xgboost":
        import xgboost

        class Callback(xgboost.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                validation = evals_log.get("validation_1") or {}
                if validation:
                    live.add(next(iter(validation.values()))[-1])
                return False

        estimator.set_params(callbacks=[Callback()])


def stop_at(algorithm: str, estimator: Any, options: dict, deadline: float) -> None:
    """Stop a LightGBM, XGBoost or CatBoost fit at ``deadline`` (``time.time()``), keeping the
    trees grown so far, or an epoch-trained model's after the epoch that passes it: AutoML's
    time limit holds even when a trial is slower than expected."""
    import time

    if algorithm == "lightgbm":
        import lightgbm

        def callback(env) -> None:
            if time.time() > deadline:
                raise lightgbm.callback.EarlyStopException(
                    env.iteration, env.evaluation_result_list
                )

        options.setdefault("callbacks", []).append(callback)
    elif algorithm == "xgboost":
        import xgboost

        class Callback(xgboost.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                return time.time() > deadline

        callbacks = list(estimator.get_params().get("callbacks") or [])
        estimator.set_params(callbacks=[*callbacks, Callback()])
    elif algorithm in EPOCH_TRAINED:
        options["deadline"] = deadline  # kiln's own epoch loop checks it after each epoch
    elif algorithm == "catboost":

        class Continue:
            def after_iteration(self, info) -> bool:
                return time.time() <= deadline

        options.setdefault("callbacks", []).append(Continue())


def grows_in_steps(estimator: Any) -> bool:
    """Whether ``fit_until`` can stop this estimator part-way: scikit-learn's forests, whose
    ``warm_start`` adds trees to those already grown."""
    from sklearn.ensemble._forest import BaseForest

    return isinstance(estimator, BaseForest)


def fit_until(estimator: Any, X, y, deadline: float) -> None:
    """Fit a forest a few trees at a time until it has them all or ``deadline``
    (``time.time()``) has passed, keeping the trees grown so far: a forest has no callback to
    stop it, and one trial of fully grown trees on a large table can take minutes."""
    import time

    total = int(estimator.n_estimators)
    step = min(total, max(8, total // 10))
    grown = step
    estimator.set_params(warm_start=True, n_estimators=grown)
    estimator.fit(X, y)
    while grown < total and time.time() < deadline:
        grown = min(total, grown + step)
        estimator.set_params(n_estimators=grown)
        estimator.fit(X, y)
    estimator.set_params(warm_start=False)


def unhook(algorithm: str, estimator: Any) -> None:
    """Drop the fit-time callbacks an XGBoost estimator keeps as a parameter (local classes
    cannot be pickled with the model, and the model has no use for them)."""
    if algorithm == "xgboost":
        estimator.set_params(callbacks=None)
