"""The tuning job: an Optuna study whose trials are training jobs, children of this job.

The study lives in memory and is rebuilt from the trial jobs' records, so a tuning job that was
interrupted resumes without repeating finished trials, and a new one can be warm-started with a
finished one's trials. Trials run in their own processes, up to ``max_parallel_jobs`` at once.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kiln.algorithms import get_algorithm
from kiln.compute import JobContext, executor_for
from kiln.context import Context
from kiln.errors import ConfigError, JobFailed, KilnError
from kiln.registry import TrainedModel
from kiln.training import (
    LIVE_METRIC,
    criteria_details,
    decide_approval,
    evaluate_model,
    held_out_rows,
    log_criteria,
)
from kiln.tuning._space import parse_range

STRATEGIES = ("grid", "random", "bayesian", "tpe", "hyperband")


def make_sampler(strategy: str, space, seed: int):
    import optuna

    if strategy in ("grid", "random"):
        # Grid points are enqueued by the job: Optuna's GridSampler stops the study when the grid
        # is exhausted, which ask-and-tell (trials in our own threads) does not allow.
        return optuna.samplers.RandomSampler(seed=seed)
    if strategy == "bayesian":
        try:
            import torch  # noqa: F401 - Optuna's Gaussian-process sampler is built on it
        except ImportError:
            raise ConfigError(
                "The bayesian strategy (Gaussian-process search) needs PyTorch: "
                "pip install 'kiln[bayesian]' (torch 2.13, CPU). Or use --strategy tpe.",
                code="tuning.missing-dependency",
            ) from None
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


LIVE_ALGORITHMS = ("lightgbm", "xgboost")


def make_pruner(spec: dict):
    """hyperband: successive halving on iterations; early stopping: the median rule (a trial
    worse than the median of earlier trials at the same iteration stops)."""
    import optuna

    if spec["strategy"] == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=10, reduction_factor=3)
    if spec.get("early_stopping") == "auto":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=10)
    return optuna.pruners.NopPruner()


class _Pruning:
    """Asked by the executor at every poll: reports the trial's live validation loss to Optuna
    and returns a reason to stop once the pruner says so."""

    def __init__(self, workspace, job_id: str, trial, lock, direction: str):
        self.workspace, self.job_id, self.trial, self.lock = workspace, job_id, trial, lock
        # The loss falls as the model improves; a maximised objective wants rising values.
        self.sign = -1.0 if direction == "maximize" else 1.0
        self.reported = 0
        self.pruned_at: int | None = None

    def __call__(self) -> str | None:
        series = self.workspace.jobs.metrics(self.job_id).get(LIVE_METRIC, [])
        new = [(step, value) for step, value in series if step > self.reported]
        if not new:
            return None
        with self.lock:
            for step, value in new:
                self.trial.report(self.sign * value, step)
            self.reported = new[-1][0]
            if self.trial.should_prune():
                self.pruned_at = self.reported
                return f"Pruned by its tuning job at iteration {self.reported}."
        return None


def trial_value(result: dict, objective: str) -> float | None:
    """The objective from a trial's metrics: cross-validated mean, else the validation split's
    (never the test split's: it stays for the final, unbiased estimate)."""
    metrics = result.get("metrics", {})
    for part in ("cv_mean", "validation"):
        value = (metrics.get(part) or {}).get(objective)
        if isinstance(value, int | float):
            return float(value)
    return None


def run_tuning_job(workspace: Context, context: JobContext, spec: dict) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log = context.log
    base = spec["training"]
    algorithm = get_algorithm(base["algorithm"])
    space = [parse_range(text, algorithm) for text in spec["space"]]
    objective, direction = spec["objective"], spec["direction"]
    pruning = spec["strategy"] == "hyperband" or spec.get("early_stopping") == "auto"
    distributions = _distributions(space)
    known = []  # finished trials of the warm-start job and of this one (when resuming)
    done = 0
    for source in [spec.get("warm_start"), context.job_id]:
        if not source:
            continue
        for child in workspace.jobs.list(parent_id=source, limit=None):
            trial = child.spec.get("tuning") or {}
            value = (
                trial_value(child.result or {}, objective) if child.status == "Completed" else None
            )
            if value is None or set(trial.get("params", {})) != set(distributions):
                continue
            known.append(
                optuna.trial.create_trial(
                    params=trial["params"], distributions=distributions, value=value
                )
            )
            done += source == context.job_id
    study = optuna.create_study(
        direction=direction,
        # A new seed after earlier trials, so a resumed or warm-started search does not draw
        # the same first points again.
        sampler=make_sampler(spec["strategy"], space, spec["seed"] + len(known)),
        pruner=make_pruner(spec),
    )
    study.add_trials(known)
    if pruning and algorithm.name not in LIVE_ALGORITHMS:
        log(
            f"{algorithm.name} reports no per-iteration loss while it trains, so no trial can be "
            f"stopped early (pruning works with {', '.join(LIVE_ALGORITHMS)}).",
            level="WARNING",
        )
    if done:
        log(f"Resuming: {done} finished trial(s) are kept.")
    elif spec.get("warm_start"):
        log(f"Warm start: {len(study.trials)} trial(s) from {spec['warm_start']}.")
    remaining = max(0, spec["max_jobs"] - done)
    if spec["strategy"] == "grid":
        seen = [t.params for t in study.trials]
        points = [p for p in grid_points(space) if p not in seen]
        for params in points:
            study.enqueue_trial(params)
        remaining = min(remaining, len(points))
    log(
        f"Tuning {algorithm.name} on {base['dataset']}: {remaining} trial(s), up to "
        f"{spec['max_parallel_jobs']} at once, {spec['strategy']} search, "
        f"{direction} {objective}."
    )

    lock = threading.Lock()
    launched = [0]
    # Set when this job is interrupted: running trials stop and no new one starts.
    stopping = threading.Event()

    def worker() -> None:
        while True:
            with lock:
                if stopping.is_set() or launched[0] >= remaining:
                    return
                launched[0] += 1
                trial = study.ask()
                values = {r.name: r.suggest(trial) for r in space}
            hyperparameters = {**base["hyperparameters"], **values}
            child = workspace.jobs.create(
                "training",
                {
                    **base,
                    "hyperparameters": algorithm.hyperparameters(hyperparameters),
                    "register": False,
                    "tuning": {
                        "job": context.job_id,
                        "trial": trial.number,
                        "params": trial.params,
                        "live": pruning,
                    },
                },
                parent_id=context.job_id,
            )
            log(f"Trial {trial.number}: job {child.id} with {values}.")
            watch = _Pruning(workspace, child.id, trial, lock, direction) if pruning else None

            def should_stop(watch=watch) -> str | None:
                if stopping.is_set():
                    return "Stopped with its tuning job."
                return watch() if watch is not None else None

            try:
                finished = executor_for(workspace).run(child, should_stop=should_stop)
            except KilnError as exc:
                # A trial that failed (a crash, or a DataError in its data) is a failed trial;
                # only errors of the trial's own job are, so anything else still propagates.
                if exc.job_id != child.id:
                    raise
                if stopping.is_set():
                    log(f"Trial {trial.number} stopped with the tuning job.", level="WARNING")
                    return
                pruned = watch is not None and watch.pruned_at is not None
                if pruned:
                    log(f"Trial {trial.number} pruned at iteration {watch.pruned_at}.")
                else:
                    log(f"Trial {trial.number} failed: {exc}", level="WARNING")
                with lock:
                    state = optuna.trial.TrialState
                    study.tell(trial, state=state.PRUNED if pruned else state.FAIL)
                continue
            value = trial_value(finished.result, objective)
            with lock:
                if value is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, value)
            log(f"Trial {trial.number}: {objective} = {value}.")

    started = time.perf_counter()
    pool = ThreadPoolExecutor(spec["max_parallel_jobs"])
    try:
        for future in [pool.submit(worker) for _ in range(spec["max_parallel_jobs"])]:
            future.result()
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM, the command that started it gone) or a trial thread's
        # error: stop the trials still running, so none outlives this job, and start no more.
        stopping.set()
        raise
    finally:
        pool.shutdown(wait=True)
    return _finish(workspace, context, spec, study, time.perf_counter() - started)


def grid_points(space) -> list[dict]:
    """Every combination of the ranges' grid values, as Optuna parameters."""
    import itertools

    names, values = [], []
    for r in space:
        if r.scale == "reverse_log":
            names.append(f"{r.name}__one_minus")
            values.append([1 - v for v in r.grid()])
        else:
            names.append(r.name)
            values.append(r.grid())
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def _distributions(space) -> dict:
    import optuna

    out = {}
    for r in space:
        if r.kind == "categorical":
            out[r.name] = optuna.distributions.CategoricalDistribution(list(r.choices))
        elif r.scale == "reverse_log":
            out[f"{r.name}__one_minus"] = optuna.distributions.FloatDistribution(
                1 - r.high, 1 - r.low, log=True
            )
        elif r.kind == "int":
            out[r.name] = optuna.distributions.IntDistribution(
                int(r.low), int(r.high), log=r.scale == "log"
            )
        else:
            out[r.name] = optuna.distributions.FloatDistribution(
                r.low, r.high, log=r.scale == "log"
            )
    return out


def _finish(workspace: Context, context: JobContext, spec: dict, study, seconds: float) -> dict:

    trials = []
    for child in workspace.jobs.list(parent_id=context.job_id, limit=None):
        tuning = child.spec.get("tuning") or {}
        trials.append(
            {
                "trial": tuning.get("trial"),
                "job": child.id,
                "status": child.status,
                "hyperparameters": {k: child.spec["hyperparameters"][k] for k in _ranged(spec)},
                "value": trial_value(child.result or {}, spec["objective"]),
            }
        )
    # The best of this job's own completed trials (a warm start's trials are not ours to register).
    own = [t for t in trials if t["status"] == "Completed" and t["value"] is not None]
    if not own:
        raise JobFailed(
            "No trial of this tuning job completed; see the trial jobs' logs "
            f"('kiln jobs list --parent {context.job_id}').",
            code="tuning.no-trial",
        )
    best_trial = (max if spec["direction"] == "maximize" else min)(own, key=lambda t: t["value"])
    best_job = workspace.jobs.get(best_trial["job"])
    data = workspace.artifacts.read_bytes(best_job.result["artifact"], what=f"job {best_job.id}")
    model = TrainedModel.from_bytes(data)
    base = spec["training"]
    # The best trial is checked against --require and the problem's criteria before it is
    # registered, as a training job checks its model.
    problem = workspace.problems.get(base["problem"]) if base.get("problem") else None
    checked = evaluate_model(
        problem,
        base.get("require"),
        model=model,
        metrics=best_job.result["metrics"],
        rows=held_out_rows(workspace, best_job.result.get("splits") or {})
        if problem is not None
        else None,
    )
    log_criteria(checked, context.log)
    version = workspace.models.register(
        model,
        group=base["group"],
        algorithm=base["algorithm"],
        target=base.get("target") or "",
        hyperparameters=best_job.spec["hyperparameters"],
        metrics=best_job.result["metrics"],
        dataset_version_id=base["dataset_version_id"],
        job_id=best_job.id,
        details=criteria_details(checked) or None,
    )
    version = decide_approval(workspace, version, checked, problem, context.log)
    context.log(
        f"Best: trial {best_trial['trial']} (job {best_job.id}), {spec['objective']} = "
        f"{best_trial['value']}; registered {version.ref} ({version.approval_status})."
    )
    return {
        "best": {
            "trial": best_trial["trial"],
            "job": best_job.id,
            "hyperparameters": best_job.spec["hyperparameters"],
            "value": best_trial["value"],
            "metrics": best_job.result["metrics"],
            "model": version.ref,
        },
        "criteria": checked["results"],
        "problem": checked["problem"],
        "objective": spec["objective"],
        "direction": spec["direction"],
        "trials": sorted(trials, key=lambda t: t["trial"] if t["trial"] is not None else -1),
        "seconds": round(seconds, 3),
    }


def _ranged(spec: dict) -> list[str]:
    return [text.split("=", 1)[0] for text in spec["space"]]
