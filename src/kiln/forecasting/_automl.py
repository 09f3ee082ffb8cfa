"""Forecasting AutoML: forecasters searched within a time limit, scored by rolling-origin
backtests, ensembled by greedy selection, and the best refitted on all the data and registered.

It runs as a ``forecasting`` job whose stored spec says ``"algorithm": "auto"`` (the job kind,
its report and its id prefix are the forecasting job's; :func:`run_forecasting_job` hands such
a job to :func:`run_forecast_automl`). The search, candidate by candidate in order of cost and
expected value (see :func:`plan_candidates` and docs/forecasting.md, "Forecasting AutoML"):

1. seasonal naive, always and on every backtest window (the reference every choice must beat),
   then the other cheap baselines (naive, drift);
2. LightGBM with its defaults, then learning the changes from the previous step and from a
   season before (cheap: one global model, and the changes carry trends on), ETS, Theta,
   DeepAR (when PyTorch is installed and at least 40 % of the time limit is left; it gets half
   of what is left), ARIMA (when its cost, estimated from ETS's measured time, fits what is
   left), then other LightGBM settings while time remains. A name the installed kiln does not
   register is logged and skipped.

Each candidate's cost per window is estimated before it runs (see :func:`_estimate`); one whose
estimated cost does not fit the time left runs on fewer windows: always the
*last* ones (the window that ends ``k × horizon`` steps before each series' end is the same
cut whatever the number of windows, so the last ``w`` windows of every candidate are the same
cuts), and the leaderboard and the ensemble compare every candidate on the windows all of them
ran. A candidate that fails, or whose backtest the deadline cuts short, is logged and left out.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kiln.compute import JobContext, executor_for
from kiln.errors import ConfigError, DataError
from kiln.forecasting._backtest import (
    WINDOW,
    Backtest,
    backtest,
    score_forecasts,
    unmeasured,
)
from kiln.forecasting._ensemble import (
    ENSEMBLE_METRICS,
    EnsembleForecaster,
    ensemble_loss,
    greedy_ensemble,
)
from kiln.forecasting._forecaster import FORECASTERS, Forecaster, forecaster_class, get_forecaster
from kiln.forecasting._model import ForecastModel
from kiln.forecasting._options import forecast_spec_of
from kiln.forecasting._panel import (
    SERIES,
    TIMESTAMP,
    ForecastSpec,
    Panel,
    prepare_panel,
    quantile_column,
)
from kiln.forecasting._train import (
    check_backtest_room,
    forecasting_job_spec,
    load_panel,
    register_forecast_model,
)
from kiln.training import TrainingResult

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "Candidate",
    "ForecastAutoMLResult",
    "SearchResult",
    "forecast_automl",
    "forecast_spec_from_options",
    "plan_candidates",
    "run_forecast_automl",
    "search_forecasters",
]

# The shortest time limit forecast_automl takes, as tabular AutoML's.
MIN_TIME_LIMIT = 10.0
# The time kept after the search for the ensemble, the final refit on all the data and the
# registration: this share of the time limit, or the refit of an ensemble of the best
# ENSEMBLE_TOP candidates so far (their seconds per backtest window, summed, times
# REFIT_MARGIN: the refit sees more data and forecasts once more) if longer.
FINAL_SHARE = 0.15
REFIT_MARGIN = 1.5
ENSEMBLE_TOP = 3
# DeepAR runs only when this share of the time limit is left, and gets half of what is left.
DEEPAR_MIN_SHARE = 0.4
DEEPAR_SHARE_OF_LEFT = 0.5
# DeepAR's forecast draws sample paths step by step, outside its training time limit: measured
# 0.65 CPU-s for 300 series x 100 paths x 14 steps (docs/benchmarks.md), 1.5e-6 s a path-step,
# kept with a margin. Its paths are cut (not below DEEPAR_FEWEST_PATHS) so that sampling takes
# at most half of a window's share, else it is skipped.
DEEPAR_PATH_STEP_SECONDS = 2.5e-6
DEEPAR_PATHS, DEEPAR_FEWEST_PATHS = 100, 20
# DeepAR learns across series: on one or a few it fits their few backtest windows and fails the
# next ones (benchmarks/forecasting.py, elecdaily: 0.64-0.84 of the ensemble from three windows,
# then a worse WQL than seasonal naive on the held-out days). AutoML tries it from this many.
DEEPAR_MIN_SERIES = 10
# A candidate's cost per backtest window relative to ETS's measured one, for candidates not yet
# measured (auto ARIMA searches orders per series). benchmarks/forecasting_models.py, 300 daily
# series of 400 steps (docs/benchmarks.md): ETS 75 CPU-ms a series, Theta 20, ARIMA about 2,300.
COST_OVER_ETS = {"arima": 30.0, "theta": 0.3}
# The cheap baselines' cost per window relative to seasonal naive's (the reference, always
# measured first): the same per-series loop with a different formula, with a margin.
COST_OVER_REFERENCE = {"naive": 1.5, "drift": 1.5, "mean": 1.5}
# The series a candidate not measured yet is timed on, for its cost on all of them.
PROBE_SERIES = 10
# LightGBM settings tried after its defaults (300 trees of 31 leaves, rate 0.05) while time
# remains: smaller trees and a faster rate; larger trees and fewer of them. Neither costs more
# than the defaults (trees × leaves), whose measured time estimates theirs.
# A hyperparameter value that stands for the panel's season length (known when the search runs).
SEASON = "season"
LIGHTGBM_VARIANTS = (
    {"num_leaves": 15, "learning_rate": 0.1, "n_estimators": 200},
    {"num_leaves": 63, "learning_rate": 0.1, "n_estimators": 150},
)

# A leaderboard row's states.
COMPLETE, FAILED, OUT_OF_TIME = "complete", "failed", "out of time"
NOT_REGISTERED, SKIPPED = "not registered", "skipped"


@dataclass
class Candidate:
    """One forecaster to try: its label on the leaderboard, algorithm and hyperparameters."""

    label: str
    algorithm: str
    hyperparameters: dict = field(default_factory=dict)
    # The reference: run whatever the time, on every window, so the search always has a choice.
    reference: bool = False
    # Tried only while time remains: never on fewer windows than the candidates before it (it
    # would narrow every candidate's comparison to its windows).
    extra: bool = False


def plan_candidates(names: list[str] | None = None) -> list[Candidate]:
    """The candidates in the order they are tried (see the module docstring); ``names`` keeps
    only those algorithms, and adds any other registered name given after them."""
    plan = [
        Candidate("seasonal_naive", "seasonal_naive", reference=True),
        Candidate("naive", "naive"),
        Candidate("drift", "drift"),
        Candidate("lightgbm", "lightgbm"),
        Candidate("lightgbm_changes", "lightgbm", {"differences": 1}),
        Candidate("lightgbm_seasonal_changes", "lightgbm", {"differences": SEASON}),
        Candidate("ets", "ets"),
        Candidate("theta", "theta"),
        Candidate("deepar", "deepar"),
        Candidate("arima", "arima"),
        *(
            Candidate(f"lightgbm_{i}", "lightgbm", dict(settings), extra=True)
            for i, settings in enumerate(LIGHTGBM_VARIANTS, start=2)
        ),
    ]
    if names is None:
        return plan
    kept = [c for c in plan if c.algorithm in names]
    planned = {c.algorithm for c in plan}
    return kept + [Candidate(n, n) for n in dict.fromkeys(names) if n not in planned]


@dataclass
class SearchResult:
    """What the search found: the leaderboard (one row per candidate, then the ensemble's), the
    chosen forecaster's algorithm and hyperparameters, and its backtest on the common windows."""

    leaderboard: list[dict]
    algorithm: str
    hyperparameters: dict
    backtest: Backtest
    metric: str
    windows: list[int]

    def make(self, spec: ForecastSpec, panel: Panel, seed: int) -> Forecaster:
        """A fresh, unfitted forecaster of the choice."""
        settings = {"horizon": spec.horizon, "quantiles": spec.quantiles}
        settings |= {"season_length": panel.season_length, "seed": seed}
        if self.algorithm == EnsembleForecaster.name:
            return EnsembleForecaster(**settings, **self.hyperparameters)
        return get_forecaster(self.algorithm, **settings, hyperparameters=self.hyperparameters)


def check_automl_options(time_limit: float, metric: str, candidates: list[str] | None) -> None:
    """Refuse a time limit under :data:`MIN_TIME_LIMIT` seconds, a metric the ensemble
    cannot optimise, and candidates kiln does not have (``forecast.*``)."""
    if isinstance(time_limit, bool) or not isinstance(time_limit, int | float):
        time_limit = float("nan")
    if not time_limit >= MIN_TIME_LIMIT or not math.isfinite(time_limit):
        raise ConfigError(
            f"The time limit must be a number of seconds, {MIN_TIME_LIMIT:g} or more (as for "
            f"tabular AutoML: a job's start and the final refit take some); got {time_limit!r} "
            "(for example --time-limit 60).",
            code="forecast.bad-time-limit",
            field="time_limit",
        )
    if metric not in ENSEMBLE_METRICS:
        raise ConfigError(
            f"Forecasting AutoML optimises {' or '.join(ENSEMBLE_METRICS)}; got {metric!r}.",
            code="forecast.bad-metric",
            field="metric",
        )
    if candidates is not None:
        if not candidates:
            raise ConfigError(
                "The list of candidates is empty: name at least one forecasting algorithm, "
                "or leave it out to search them all.",
                code="forecast.unknown-algorithm",
                field="candidates",
            )
        for name in candidates:
            forecaster_class(name)  # refuses an unknown name with the list of known ones


def _torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def search_forecasters(
    panel: Panel,
    spec: ForecastSpec,
    *,
    time_limit: float,
    deadline: float,
    metric: str = "wql",
    seed: int = 42,
    candidates: list[str] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> SearchResult:
    """Backtest the candidates until ``deadline`` (``time.time()``), ensemble them, and choose
    the ensemble if its backtest ``metric`` beats the best single candidate's, else that one."""
    windows = spec.backtests
    started = deadline - time_limit
    reserve = FINAL_SHARE * time_limit  # grows to the refit of the best candidates
    ranked: list[tuple[float, float]] = []  # (score, seconds per window) of the complete ones
    settings = {"horizon": spec.horizon, "quantiles": spec.quantiles}
    settings |= {"season_length": panel.season_length, "seed": seed}
    per_window: dict[str, float] = {}  # algorithm → measured seconds per backtest window
    rows: list[dict] = []
    forecasts: dict[str, pd.DataFrame] = {}
    plan = plan_candidates(candidates)

    def progress(message: str) -> None:
        share = min(max((time.time() - started) / time_limit, 0.0), 1.0)
        log(f"Progress {100 * share:.0f}% — {message}")

    for candidate in plan:
        row = {
            "candidate": candidate.label,
            "algorithm": candidate.algorithm,
            "hyperparameters": dict(candidate.hyperparameters),
        }
        rows.append(row)
        seasonal = [k for k, v in candidate.hyperparameters.items() if v == SEASON]
        if seasonal and panel.season_length <= 1:
            why = "the season is one step long: the same model as an earlier candidate"
            row |= {"state": SKIPPED, "reason": why}
            log(f"Skipped {candidate.label}: {why}.")
            continue
        row["hyperparameters"] |= dict.fromkeys(seasonal, panel.season_length)
        if candidate.algorithm not in FORECASTERS:
            row |= {"state": NOT_REGISTERED, "reason": "this kiln has no such algorithm"}
            log(f"Skipped {candidate.label}: no forecaster of that name is registered.")
            continue
        search_deadline = deadline - reserve
        left = search_deadline - time.time()
        want = windows
        if candidate.algorithm == "deepar":
            if not _torch_installed():
                row |= {"state": FAILED, "reason": "PyTorch is not installed (kiln[deepar])"}
                log("Skipped deepar: PyTorch is not installed (pip install 'kiln[deepar]').")
                continue
            if len(panel.ids()) < DEEPAR_MIN_SERIES:
                why = f"a global network needs many series; this panel has {len(panel.ids())}"
                row |= {"state": SKIPPED, "reason": why}
                log(f"Skipped deepar: {why} (AutoML tries it from {DEEPAR_MIN_SERIES}).")
                continue
            if deadline - time.time() < DEEPAR_MIN_SHARE * time_limit:
                row |= {"state": OUT_OF_TIME, "reason": "under 40% of the time limit left"}
                log("Skipped deepar: less than 40% of the time limit is left.")
                continue
            share = DEEPAR_SHARE_OF_LEFT * left / (windows + 1)  # each window's fit and the refit
            per_path = DEEPAR_PATH_STEP_SECONDS * len(panel.ids()) * spec.horizon
            paths = min(DEEPAR_PATHS, int(0.5 * share / per_path))
            if paths < DEEPAR_FEWEST_PATHS:
                why = (
                    f"drawing {DEEPAR_FEWEST_PATHS} sample paths for {len(panel.ids())} series "
                    f"would take about {DEEPAR_FEWEST_PATHS * per_path:.1f}s a window, "
                    f"{share:.1f}s is its share"
                )
                row |= {"state": OUT_OF_TIME, "reason": why}
                log(f"Skipped deepar: out of time ({why}).")
                continue
            # Training gets the share less the sampling's estimate (at least half of it).
            row["hyperparameters"]["time_limit"] = round(share - paths * per_path, 1)
            if paths < DEEPAR_PATHS:
                row["hyperparameters"]["num_samples"] = paths
        if left <= 0 and not candidate.reference:
            row |= {"state": OUT_OF_TIME, "reason": "the search's deadline had passed"}
            log(f"Skipped {candidate.label}: out of time (the search's deadline had passed).")
            continue

        def make(candidate=candidate, hyperparameters=row["hyperparameters"]) -> Forecaster:
            return get_forecaster(candidate.algorithm, **settings, hyperparameters=hyperparameters)

        try:
            estimate = None
            if not candidate.reference and candidate.algorithm != "deepar":
                estimate = _estimate(candidate.algorithm, make, panel, spec, per_window, seed)
            if estimate:
                # Room for its own refit too, should it be chosen.
                search_deadline = deadline - max(reserve, REFIT_MARGIN * estimate)
                left = search_deadline - time.time()
                want = min(windows, int(left // estimate))
                fewest = min((r["windows"] for r in rows if r.get("state") == COMPLETE), default=1)
                if want < (fewest if candidate.extra else 1):
                    why = (
                        f"estimated {estimate:.1f}s per window and {REFIT_MARGIN * estimate:.1f}s "
                        f"for its refit, {deadline - time.time():.1f}s left"
                    )
                    row |= {"state": OUT_OF_TIME, "reason": why}
                    log(f"Skipped {candidate.label}: out of time ({why}).")
                    continue
            progress(f"backtesting {candidate.label} on {want} window(s)")
            result = backtest(
                make,
                panel,
                horizon=spec.horizon,
                windows=want,
                quantiles=spec.quantiles,
                deadline=None if candidate.reference else search_deadline,
            )
        except Exception as exc:  # a candidate's failure must never end the search
            row |= {"state": FAILED, "reason": f"{type(exc).__name__}: {exc}"[:300]}
            log(f"Candidate {candidate.label} failed and is skipped: {row['reason']}")
            continue
        row |= {"seconds": result.seconds, "windows": result.windows}
        if result.windows == 0:
            raise DataError(
                f"No series is longer than the horizon ({spec.horizon} steps), so there is "
                "nothing to backtest on. Shorten the horizon or give longer series.",
                code="forecast.too-short",
                field="horizon",
            )
        if result.stopped:
            row |= {"state": OUT_OF_TIME, "reason": "the deadline cut its backtest short"}
            log(f"Left out {candidate.label}: the deadline cut its backtest short.")
            continue
        per_window.setdefault(candidate.algorithm, result.seconds / result.windows)
        frame = result.forecasts
        frame[WINDOW] = frame[WINDOW] + (windows - want)  # numbered as in a full backtest
        forecasts[candidate.label] = frame
        row["state"] = COMPLETE
        value = result.metrics.get(metric)
        ranked = sorted([*ranked, (_sortable(value), result.seconds / result.windows)])
        refit = REFIT_MARGIN * sum(cost for _, cost in ranked[:ENSEMBLE_TOP])
        reserve = max(FINAL_SHARE * time_limit, 1.1 * refit)  # and a tenth for the selection
        log(f"Candidate {candidate.label}: {metric}={value} in {result.seconds:.1f}s.")
    return _choose(rows, forecasts, spec, metric, windows, log, time_left=deadline - time.time())


def _estimate(
    algorithm: str,
    make: Callable[[], Forecaster],
    panel: Panel,
    spec: ForecastSpec,
    per_window: dict[str, float],
    seed: int,
) -> float | None:
    """Seconds one backtest window of ``algorithm`` is expected to take on the whole panel:
    measured on an earlier candidate of the same algorithm; else ARIMA's and Theta's from
    ETS's (:data:`COST_OVER_ETS`), the other baselines' from seasonal naive's
    (:data:`COST_OVER_REFERENCE`); else, for a local model (fitted per series, so its cost
    grows with their number), timed on one window of one series and of a sample of
    :data:`PROBE_SERIES` series, and extrapolated (a fixed part and a part per series) to all
    of them. None for a global model not measured yet (a sample does not
    tell its cost: its fit has a fixed part) and when the panel is no bigger than the sample
    (the backtest itself is as cheap as a probe)."""
    if algorithm in per_window:
        return per_window[algorithm]
    if algorithm in COST_OVER_ETS and "ets" in per_window:
        return COST_OVER_ETS[algorithm] * per_window["ets"]
    if algorithm in COST_OVER_REFERENCE and "seasonal_naive" in per_window:
        return COST_OVER_REFERENCE[algorithm] * per_window["seasonal_naive"]
    ids = panel.ids()
    if len(ids) <= PROBE_SERIES or forecaster_class(algorithm).is_global:
        return None
    sample = np.random.default_rng(seed).choice(len(ids), PROBE_SERIES, replace=False)

    def probe(count: int) -> float:
        started = time.perf_counter()
        backtest(
            make,
            panel.subset([ids[i] for i in sample[:count]]),
            horizon=spec.horizon,
            windows=1,
            quantiles=spec.quantiles,
        )
        return time.perf_counter() - started

    # A window's cost is a fixed part (the backtest's own table work) and a part per series:
    # one series and the whole sample tell both. Scaling the sample's whole time to 10,000
    # series multiplied the fixed part too (naive estimated at 200 s a window for 2 s).
    one, whole = probe(1), probe(PROBE_SERIES)
    per_series = max(whole - one, 0.0) / (PROBE_SERIES - 1)
    return max(whole, one - per_series + per_series * len(ids))


def _choose(
    rows: list[dict],
    forecasts: dict[str, pd.DataFrame],
    spec: ForecastSpec,
    metric: str,
    windows: int,
    log: Callable[[str], None],
    *,
    time_left: float = float("inf"),
) -> SearchResult:
    """Score the complete candidates on their common windows, ensemble them, and choose: the
    ensemble if it beats the best candidate and its refit (its members' seconds per backtest
    window, summed, times REFIT_MARGIN) fits ``time_left``, else the best candidate."""
    if not forecasts:
        failed = [r for r in rows if r.get("state") == FAILED]
        if failed and len(failed) == len(rows):
            reasons = "; ".join(f"{r['candidate']}: {r['reason']}" for r in failed[:5])
            raise DataError(
                f"Every forecasting candidate failed ({reasons}). A longer time limit will not "
                "help: fix what their errors name, or choose other --candidates.",
                code="forecast.automl-nothing-fitted",
                field="candidates",
            )
        raise DataError(
            "No forecasting candidate completed its backtest within the time limit (see the "
            "job's log for each one's reason). Give a longer --time-limit.",
            code="forecast.automl-nothing-fitted",
            field="time_limit",
        )
    common = sorted(set.intersection(*(set(f[WINDOW].unique()) for f in forecasts.values())))
    if len(common) < windows:
        log(f"Candidates are compared on the last {len(common)} backtest window(s), which all ran.")
    keys = [WINDOW, SERIES, TIMESTAMP]
    columns = ["mean", *(quantile_column(q) for q in spec.quantiles)]
    aligned: dict[str, pd.DataFrame] = {}
    by_label = {r["candidate"]: r for r in rows}
    base = None
    for label, frame in forecasts.items():
        frame = frame[frame[WINDOW].isin(common)].sort_values(keys).reset_index(drop=True)
        if base is not None and not frame[keys].equals(base[keys]):
            log(f"Left out {label} from the ensemble: its forecasts do not cover the same rows.")
            aligned_frame = None
        else:
            aligned_frame = frame
            base = frame if base is None else base
        metrics, _, _ = score_forecasts(frame, spec.quantiles)
        by_label[label]["metrics"] = metrics
        if aligned_frame is not None:
            aligned[label] = aligned_frame
    labels = list(aligned)
    best_label = min(labels, key=lambda k: _sortable(by_label[k]["metrics"].get(metric)))
    loss = ensemble_loss(base, spec.quantiles, metric)
    predictions = [aligned[k][columns].to_numpy(dtype=float) for k in labels]
    weights, ensemble_score = greedy_ensemble(predictions, loss)
    best_score = loss(aligned[best_label][columns].to_numpy(dtype=float))
    members = [
        {
            "algorithm": by_label[k]["algorithm"],
            "hyperparameters": by_label[k]["hyperparameters"],
            "weight": round(float(w), 6),
            "candidate": k,
        }
        for k, w in zip(labels, weights, strict=True)
        if w > 0
    ]
    combined = base[[*keys, "step", "y", "scale"]].copy()
    combined[columns] = sum(w * p for w, p in zip(weights, predictions, strict=True))
    combined = combined[[c for c in aligned[best_label].columns if c in combined.columns]]
    ensemble_metrics, per_series, by_step = score_forecasts(combined, spec.quantiles)
    chosen_ensemble = len(members) > 1 and ensemble_score < best_score - 1e-12
    refit = REFIT_MARGIN * sum(
        by_label[m["candidate"]]["seconds"] / by_label[m["candidate"]]["windows"] for m in members
    )
    if chosen_ensemble and refit > time_left:
        chosen_ensemble = False
        log(
            f"The ensemble's refit (estimated {refit:.1f}s) does not fit the {time_left:.1f}s "
            "left: the best single candidate is chosen instead."
        )
    for row in rows:
        row["weight"] = 0.0
    if chosen_ensemble:
        for member in members:
            by_label[member["candidate"]]["weight"] = member["weight"]
        frame, metrics = combined, ensemble_metrics
        algorithm = EnsembleForecaster.name
        hyperparameters = {"members": [{k: m[k] for k in m if k != "candidate"} for m in members]}
        chosen = ", ".join(f"{m['candidate']} ({m['weight']:g})" for m in members)
        log(
            f"Chose the ensemble of {chosen}: "
            f"{metric}={ensemble_score:.6g} against {best_score:.6g} for {best_label} alone."
        )
    else:
        by_label[best_label]["weight"] = 1.0
        frame = aligned[best_label]
        metrics, per_series, by_step = score_forecasts(frame, spec.quantiles)
        algorithm = by_label[best_label]["algorithm"]
        hyperparameters = by_label[best_label]["hyperparameters"]
        log(
            f"Chose {best_label} alone ({metric}={best_score:.6g}; the ensemble's: "
            f"{ensemble_score:.6g})."
        )
    ensemble_row = {
        "candidate": "ensemble",
        "algorithm": EnsembleForecaster.name,
        "hyperparameters": {"members": [m["candidate"] for m in members]},
        "state": COMPLETE,
        "metrics": ensemble_metrics,
        "seconds": round(sum(by_label[m["candidate"]]["seconds"] for m in members), 3),
        "windows": len(common),
        "weight": 1.0 if chosen_ensemble else 0.0,
    }
    chosen_backtest = Backtest(
        forecasts=frame.reset_index(drop=True),
        metrics=metrics,
        per_series=per_series,
        by_step=by_step,
        seconds=round(sum(r.get("seconds", 0.0) for r in rows), 3),
        windows=len(common),
    )
    leaderboard = sorted(
        [*rows, ensemble_row] if len(members) > 1 else rows,
        key=lambda r: (r["state"] != COMPLETE, _sortable((r.get("metrics") or {}).get(metric))),
    )
    return SearchResult(
        leaderboard=leaderboard,
        algorithm=algorithm,
        hyperparameters=hyperparameters,
        backtest=chosen_backtest,
        metric=metric,
        windows=[int(w) for w in common],
    )


def _sortable(value: float | None) -> float:
    return float("inf") if value is None or not np.isfinite(value) else float(value)


def run_forecast_automl(workspace: Context, context: JobContext, stored: dict) -> dict:
    """The job's process: panel, search, refit of the choice on all the data, register."""
    log = context.log
    time_limit = float(stored["time_limit"])
    deadline = float(stored.get("deadline") or time.time() + time_limit)
    spec, panel, future, notes, names = load_panel(workspace, stored, log)
    seed = stored.get("seed", 42)
    log(
        f"Forecasting AutoML: {len(panel.ids())} series, horizon {spec.horizon}, "
        f"{spec.backtests} backtest window(s), {time_limit:g}s, optimising {stored['metric']}."
    )
    found = search_forecasters(
        panel,
        spec,
        time_limit=time_limit,
        deadline=deadline,
        metric=stored["metric"],
        seed=seed,
        candidates=stored.get("candidates"),
        log=log,
    )
    for line in unmeasured(found.backtest.metrics):
        log(line)
    fit_started = time.perf_counter()
    final = found.make(spec, panel, seed).fit(panel)
    model = ForecastModel(final, spec=spec, panel=panel, future_covariates=future, ids=names)
    model.cache_default_forecast()
    fit_seconds = time.perf_counter() - fit_started
    log(f"Progress 100% — fitted {found.algorithm} on all series in {fit_seconds:.1f}s.")
    summary = {"metric": found.metric, "windows": found.windows, "rows": found.leaderboard}
    return register_forecast_model(
        workspace,
        context,
        stored,
        model=model,
        metrics={"backtest": found.backtest.metrics},
        backtest_result=found.backtest,
        notes=notes,
        details={"leaderboard": summary},
        extra={
            "leaderboard": summary,
            "algorithm": found.algorithm,
            "fit_seconds": round(fit_seconds, 3),
            "total_seconds": round(time.time() - (deadline - time_limit), 3),
            "time_limit": time_limit,
        },
    )


@dataclass(frozen=True)
class ForecastAutoMLResult(TrainingResult):
    """The AutoML job and the model it registered, with the search's leaderboard."""

    @property
    def leaderboard(self) -> list[dict]:
        return self.job.result["leaderboard"]["rows"]

    def to_dict(self) -> dict:
        return super().to_dict() | {"leaderboard": self.job.result["leaderboard"]}


# forecast_automl's own keywords that ws.automl takes beside the problem's (``algorithms``, as
# tabular AutoML names it, is taken for ``candidates``).
SEARCH_OPTIONS = ("metric", "candidates", "on_log")


def forecast_spec_from_options(target: str | None, options: dict) -> tuple[ForecastSpec, dict]:
    """(the problem, forecast_automl's other keywords) from ``ws.automl``'s keywords: those of
    ``ws.train(problem_type="forecasting")`` (see :func:`forecast_spec_of`, which refuses the
    ones a forecaster does not take) and :data:`SEARCH_OPTIONS`."""
    options = dict(options)
    if "algorithms" in options:
        options["candidates"] = options.pop("algorithms")
    search = {k: options.pop(k) for k in SEARCH_OPTIONS if k in options}
    if "hyperparameters" in options:
        raise ConfigError(
            "Forecasting AutoML chooses the hyperparameters of its candidates; to fit one "
            "algorithm with yours, use ws.train(algorithm=..., hyperparameters=...).",
            code="forecast.bad-option",
            field="hyperparameters",
        )
    spec, rest = forecast_spec_of({"target": target, **options})
    return spec, rest | {k: v for k, v in search.items() if v is not None}


def forecast_automl(
    workspace: Context,
    data: str,
    spec: ForecastSpec,
    *,
    time_limit: float,
    metric: str = "wql",
    name: str | None = None,
    seed: int = 42,
    require: list[str] | None = None,
    problem: str | None = None,
    experiment: str | None = None,
    on_log: Callable[[str], None] | None = None,
    candidates: list[str] | None = None,
) -> ForecastAutoMLResult:
    """Search forecasters on data set ``data`` within ``time_limit`` seconds (from this call to
    the registered model), as a job, and register the best one or the ensemble.

    ``metric`` is what the choice optimises (``wql``, the default, or ``mase``); ``candidates``
    restricts the algorithms (names of :data:`FORECASTERS`); ``require`` are criteria such as
    ``"mase<1"`` on the backtest metrics."""
    started = time.time()
    check_automl_options(time_limit, metric, candidates)
    stored, dataset = forecasting_job_spec(
        workspace,
        data,
        spec,
        algorithm="auto",
        name=name,
        seed=seed,
        require=require,
        problem=problem,
        extra={
            "time_limit": float(time_limit),
            "deadline": started + float(time_limit),
            "metric": metric,
            "candidates": list(candidates) if candidates is not None else None,
        },
    )
    # The table checked now (a bad timestamp, a duplicate, a gap), not as a failed job.
    checked = ForecastSpec.from_dict(stored["spec"])
    panel, _, _ = prepare_panel(workspace.data.load(dataset, columns=checked.columns), checked)
    check_backtest_room(panel, checked)
    job = workspace.jobs.create("forecasting", stored, experiment=experiment)
    workspace.jobs.add_lineage(job.id, ("dataset_version", dataset.id), "input")
    finished = executor_for(workspace).run(job, on_log=on_log)
    return ForecastAutoMLResult(job=finished, model=workspace.models.get(finished.result["model"]))
