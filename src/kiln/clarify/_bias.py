"""Bias metrics before and after training, as SageMaker Clarify defines them (docs/clarify.md).

Every metric compares the disfavoured facet *d* (the rows the facet selects) with the rest, *a*.
A metric that is undefined on the data (a division by zero: no predicted positive in a facet,
say) is None, with the reason in :func:`bias_metrics`' records; never 0, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kiln.clarify._facets import Condition, facet_condition, label_condition, require_column
from kiln.errors import ConfigError

__all__ = [
    "METRICS",
    "BiasMetric",
    "MetricInfo",
    "bias_metrics",
    "check_bias",
    "post_training_bias",
    "pre_training_bias",
]

FLIP_TEST_NEIGHBOURS = 5
BOOTSTRAP_SAMPLES = 500
BOOTSTRAP_Z = 1.959964  # the normal 97.5 % quantile: a 95 % two-sided interval


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is: its formula, its range and how to read it."""

    name: str
    stage: str  # "pre-training" | "post-training"
    title: str
    formula: str
    range: str
    reading: str


def _info(stage: str, rows: list[tuple[str, str, str, str, str]]) -> dict[str, MetricInfo]:
    return {r[0]: MetricInfo(r[0], stage, *r[1:]) for r in rows}


METRICS: dict[str, MetricInfo] = _info(
    "pre-training",
    [
        ("CI", "Class imbalance", "(n_a − n_d) / (n_a + n_d)", "[-1, 1]",
         "> 0: facet a has more rows than d; 0: balanced"),
        ("DPL", "Difference in proportions of labels", "q_a − q_d", "[-1, 1]",
         "> 0: a has more positive labels than d; 0: demographic parity"),
        ("KL", "Kullback-Leibler divergence", "Σ_y P_a(y) ln(P_a(y) / P_d(y))", "[0, ∞)",
         "0: same label distribution in a and d; larger: further apart"),
        ("JS", "Jensen-Shannon divergence", "½ KL(P_a‖P) + ½ KL(P_d‖P), P = ½(P_a + P_d)",
         "[0, ln 2)", "0: same label distribution; symmetric in a and d"),
        ("LP", "Lp-norm (p = 2)", "√(Σ_y (P_a(y) − P_d(y))²)", "[0, √2)",
         "0: same label distribution; unsigned"),
        ("TVD", "Total variation distance", "½ Σ_y |P_a(y) − P_d(y)|", "[0, 1)",
         "0: same label distribution; unsigned"),
        ("KS", "Kolmogorov-Smirnov", "max_y |P_a(y) − P_d(y)|", "[0, 1]",
         "the largest gap over the label's values"),
        ("CDDL", "Conditional demographic disparity in labels",
         "(1/n) Σ_g n_g DD_g, DD_g = n_d(0)_g / n(0)_g − n_d(1)_g / n(1)_g", "[-1, 1]",
         "> 0: within groups, d has a larger share of the negative labels than of the positive"),
    ],
) | _info(
    "post-training",
    [
        ("DPPL", "Difference in positive proportions in predicted labels", "q′_a − q′_d",
         "[-1, 1]", "> 0: the model predicts the positive outcome more often for a"),
        ("DI", "Disparate impact", "q′_d / q′_a", "[0, ∞)",
         "1: parity; < 1: a is predicted positive more often (the 80 % rule: ≥ 0.8)"),
        ("DCAcc", "Difference in conditional acceptance",
         "n_a(1) / n′_a(1) − n_d(1) / n′_d(1)", "(-∞, ∞)",
         "> 0: a is accepted less often than its labels warrant, relative to d"),
        ("DCR", "Difference in conditional rejection", "n_d(0) / n′_d(0) − n_a(0) / n′_a(0)",
         "(-∞, ∞)", "> 0: d is rejected less often than its labels warrant, relative to a"),
        ("SD", "Specificity difference", "TN_d / (TN_d + FP_d) − TN_a / (TN_a + FP_a)",
         "[-1, 1]", "> 0: a gets more false positives (d more true negatives)"),
        ("RD", "Recall difference", "TP_a / (TP_a + FN_a) − TP_d / (TP_d + FN_d)", "[-1, 1]",
         "> 0: the model finds more of a's true positives than of d's"),
        ("DAR", "Difference in acceptance rates (precision)",
         "TP_a / (TP_a + FP_a) − TP_d / (TP_d + FP_d)", "[-1, 1]",
         "> 0: d's predicted positives are more often wrong"),
        ("DRR", "Difference in rejection rates", "TN_d / (TN_d + FN_d) − TN_a / (TN_a + FN_a)",
         "[-1, 1]", "> 0: a's predicted negatives are more often wrong"),
        ("AD", "Accuracy difference", "ACC_a − ACC_d", "[-1, 1]",
         "> 0: the model is more accurate for a"),
        ("TE", "Treatment equality", "FP_a / FN_a − FP_d / FN_d", "(-∞, ∞)",
         "0: the same ratio of false positives to false negatives in both facets"),
        ("CDDPL", "Conditional demographic disparity in predicted labels",
         "CDDL computed on the predicted labels", "[-1, 1]",
         "> 0: within groups, d gets a larger share of the predicted rejections"),
        ("FT", "Flip test", "(F⁺ − F⁻) / n_d", "[-1, 1]",
         "> 0: more d rows are refused whose nearest a rows are accepted than the reverse"),
        ("GE", "Generalized entropy (α = 2)", "1/(2n) Σ_i ((b_i / b̄)² − 1), b_i = ŷ_i − y_i + 1",
         "[0, 0.5]", "0: errors spread evenly; no facet involved"),
    ],
)  # fmt: skip

PRE_TRAINING = [m for m, info in METRICS.items() if info.stage == "pre-training"]
POST_TRAINING = [m for m, info in METRICS.items() if info.stage == "post-training"]


@dataclass(frozen=True)
class BiasMetric:
    """One metric's value on the data, or None with the reason it is undefined."""

    name: str
    value: float | None
    reason: str | None = None

    @property
    def info(self) -> MetricInfo:
        return METRICS[self.name]

    def to_dict(self) -> dict[str, Any]:
        info = self.info
        return {
            "name": self.name,
            "stage": info.stage,
            "title": info.title,
            "value": self.value,
            "reason": self.reason,
            "range": info.range,
            "reading": info.reading,
            "formula": info.formula,
        }


# -- arithmetic that says why it is undefined ----------------------------------------------------
class _Undefined(Exception):
    """Raised inside a metric's formula: the reason the metric has no value."""


def _ratio(num, den, why: str):
    """``num / den``: NaN where ``den`` is 0 (bootstrap arrays); on one number, undefined."""
    den = np.asarray(den, dtype=float)
    num = np.asarray(num, dtype=float)
    if den.ndim == 0:
        if den == 0:
            raise _Undefined(why)
        return num / den
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0, np.nan, num / np.where(den == 0, 1, den))


@dataclass
class _Cells:
    """Confusion counts per facet (numbers, or arrays of bootstrap samples)."""

    tp_a: Any
    fp_a: Any
    tn_a: Any
    fn_a: Any
    tp_d: Any
    fp_d: Any
    tn_d: Any
    fn_d: Any

    @classmethod
    def count(cls, d: np.ndarray, y: np.ndarray, yhat: np.ndarray) -> _Cells:
        a = ~d
        return cls(
            *(
                float(np.sum(facet & observed & predicted))
                for facet in (a, d)
                for observed, predicted in ((y, yhat), (~y, yhat), (~y, ~yhat), (y, ~yhat))
            )
        )

    def as_array(self) -> np.ndarray:
        return np.array([self.tp_a, self.fp_a, self.tn_a, self.fn_a,
                         self.tp_d, self.fp_d, self.tn_d, self.fn_d], dtype=float)  # fmt: skip


def _count_metrics(c: _Cells) -> dict[str, Callable[[], Any]]:
    """The post-training metrics that are functions of the confusion counts alone."""
    n_a = c.tp_a + c.fp_a + c.tn_a + c.fn_a
    n_d = c.tp_d + c.fp_d + c.tn_d + c.fn_d

    def q_pred(tp, fp, n, facet):
        return _ratio(tp + fp, n, f"facet {facet} has no rows")

    return {
        "DPPL": lambda: q_pred(c.tp_a, c.fp_a, n_a, "a") - q_pred(c.tp_d, c.fp_d, n_d, "d"),
        "DI": lambda: _ratio(
            q_pred(c.tp_d, c.fp_d, n_d, "d"),
            q_pred(c.tp_a, c.fp_a, n_a, "a"),
            "no row of facet a is predicted positive (q′_a = 0)",
        ),
        "DCAcc": lambda: (
            _ratio(c.tp_a + c.fn_a, c.tp_a + c.fp_a, "no row of facet a is predicted positive")
            - _ratio(c.tp_d + c.fn_d, c.tp_d + c.fp_d, "no row of facet d is predicted positive")
        ),
        "DCR": lambda: (
            _ratio(c.tn_d + c.fp_d, c.tn_d + c.fn_d, "no row of facet d is predicted negative")
            - _ratio(c.tn_a + c.fp_a, c.tn_a + c.fn_a, "no row of facet a is predicted negative")
        ),
        "SD": lambda: (
            _ratio(c.tn_d, c.tn_d + c.fp_d, "facet d has no observed negative")
            - _ratio(c.tn_a, c.tn_a + c.fp_a, "facet a has no observed negative")
        ),
        "RD": lambda: (
            _ratio(c.tp_a, c.tp_a + c.fn_a, "facet a has no observed positive")
            - _ratio(c.tp_d, c.tp_d + c.fn_d, "facet d has no observed positive")
        ),
        "DAR": lambda: (
            _ratio(c.tp_a, c.tp_a + c.fp_a, "no row of facet a is predicted positive")
            - _ratio(c.tp_d, c.tp_d + c.fp_d, "no row of facet d is predicted positive")
        ),
        "DRR": lambda: (
            _ratio(c.tn_d, c.tn_d + c.fn_d, "no row of facet d is predicted negative")
            - _ratio(c.tn_a, c.tn_a + c.fn_a, "no row of facet a is predicted negative")
        ),
        "AD": lambda: (
            _ratio(c.tp_a + c.tn_a, n_a, "facet a has no rows")
            - _ratio(c.tp_d + c.tn_d, n_d, "facet d has no rows")
        ),
        "TE": lambda: (
            _ratio(c.fp_a, c.fn_a, "facet a has no false negative (FN_a = 0)")
            - _ratio(c.fp_d, c.fn_d, "facet d has no false negative (FN_d = 0)")
        ),
    }


COUNT_METRICS = list(_count_metrics(_Cells(*[1.0] * 8)))


def _measure(name: str, formula: Callable[[], Any]) -> BiasMetric:
    try:
        value = float(formula())
    except _Undefined as undefined:
        return BiasMetric(name, None, str(undefined))
    if not np.isfinite(value):
        return BiasMetric(name, None, "the value is not a finite number")
    return BiasMetric(name, value)


# -- pre-training ---------------------------------------------------------------------------------
def _distributions(outcome: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    values, codes = np.unique(outcome, return_inverse=True)
    p_a = np.bincount(codes[~d], minlength=len(values)) / max(int((~d).sum()), 1)
    p_d = np.bincount(codes[d], minlength=len(values)) / max(int(d.sum()), 1)
    return p_a, p_d, list(values)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    present = p > 0
    return float(np.sum(p[present] * np.log(p[present] / q[present])))


def _kl_metric(p_a: np.ndarray, p_d: np.ndarray, values: list) -> float:
    infinite = [str(v) for v, pa, pd_ in zip(values, p_a, p_d, strict=True) if pa > 0 and pd_ == 0]
    if infinite:
        raise _Undefined(
            f"label value(s) {', '.join(infinite[:5])} occur in facet a but never in d, so "
            "KL is infinite (JS, LP and TVD stay defined)"
        )
    return _kl(p_a, p_d)


def _js(p_a: np.ndarray, p_d: np.ndarray) -> float:
    mixture = (p_a + p_d) / 2
    return 0.5 * _kl(p_a, mixture) + 0.5 * _kl(p_d, mixture)


def _cdd(d: np.ndarray, positive: np.ndarray, group: np.ndarray | None) -> float:
    """Conditional demographic disparity: groups without a positive or without a negative label
    have no DD and are left out of the weighted mean (n counts the rows of the groups kept)."""
    if group is None:
        raise _Undefined("it needs a group column to condition on (--group COLUMN)")
    total, weight = 0.0, 0
    for key in pd.unique(group):
        rows = group == key
        negatives, positives = rows & ~positive, rows & positive
        n0, n1 = int(negatives.sum()), int(positives.sum())
        if n0 == 0 or n1 == 0:
            continue
        dd = (negatives & d).sum() / n0 - (positives & d).sum() / n1
        total += int(rows.sum()) * dd
        weight += int(rows.sum())
    if weight == 0:
        raise _Undefined("no group has both a positive and a negative label")
    return total / weight


def _pre_training(
    d: np.ndarray, y: np.ndarray, outcome: np.ndarray, group: np.ndarray | None
) -> list[BiasMetric]:
    n_a, n_d = float((~d).sum()), float(d.sum())
    p_a, p_d, values = _distributions(outcome, d)
    formulas: dict[str, Callable[[], Any]] = {
        "CI": lambda: _ratio(n_a - n_d, n_a + n_d, "there are no rows"),
        "DPL": lambda: (
            _ratio((y & ~d).sum(), n_a, "facet a has no rows")
            - _ratio((y & d).sum(), n_d, "facet d has no rows")
        ),
        "KL": lambda: _kl_metric(p_a, p_d, values),
        "JS": lambda: _js(p_a, p_d),
        "LP": lambda: np.sqrt(np.sum((p_a - p_d) ** 2)),
        "TVD": lambda: 0.5 * np.sum(np.abs(p_a - p_d)),
        "KS": lambda: np.max(np.abs(p_a - p_d)),
        "CDDL": lambda: _cdd(d, y, group),
    }
    return [_measure(name, formula) for name, formula in formulas.items()]


# -- post-training --------------------------------------------------------------------------------
def _flip_test(
    frame: pd.DataFrame, d: np.ndarray, yhat: np.ndarray, features: list[str], k: int
) -> float:
    """FT: each d row against its k nearest a rows (majority of their predictions)."""
    from sklearn.neighbors import NearestNeighbors

    if not features:
        raise _Undefined("it needs the model's input columns (a model, or features=...)")
    X = distance_features(frame, features)
    k = min(k, int((~d).sum()))
    neighbours = NearestNeighbors(n_neighbors=k).fit(X[~d])
    _, index = neighbours.kneighbors(X[d])
    granted_nearby = yhat[~d][index].mean(axis=1) > 0.5
    refused = ~yhat[d]
    flips_plus = int(np.sum(refused & granted_nearby))
    flips_minus = int(np.sum(~refused & ~granted_nearby))
    return (flips_plus - flips_minus) / int(d.sum())


def distance_features(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The flip test's space: numeric columns standardised (missing: the mean), other columns
    one-hot with each indicator scaled by 1/√2, so that two rows with different categories are
    as far apart as one standard deviation on a numeric column."""
    parts = []
    for column in features:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            mean = np.nanmean(values) if np.isfinite(values).any() else 0.0
            values = np.where(np.isnan(values), mean, values)
            spread = values.std()
            parts.append(((values - mean) / (spread if spread > 0 else 1.0))[:, None])
        else:
            dummies = pd.get_dummies(series.astype(str).where(series.notna(), "(missing)"))
            parts.append(dummies.to_numpy(dtype=float) / np.sqrt(2))
    return np.hstack(parts) if parts else np.zeros((len(frame), 1))


def _generalized_entropy(y: np.ndarray, yhat: np.ndarray) -> float:
    benefit = yhat.astype(float) - y.astype(float) + 1
    mean = benefit.mean() if len(benefit) else 0.0
    if mean == 0:
        raise _Undefined("every prediction is a false negative (b̄ = 0)")
    return float(np.sum((benefit / mean) ** 2 - 1) / (2 * len(benefit)))


def _post_training(
    frame: pd.DataFrame,
    d: np.ndarray,
    y: np.ndarray,
    yhat: np.ndarray,
    group: np.ndarray | None,
    features: list[str] | None,
    k: int,
) -> list[BiasMetric]:
    cells = _Cells.count(d, y, yhat)
    formulas = _count_metrics(cells) | {
        "CDDPL": lambda: _cdd(d, yhat, group),
        "FT": lambda: _flip_test(frame, d, yhat, features or [], k),
        "GE": lambda: _generalized_entropy(y, yhat),
    }
    return [_measure(name, formulas[name]) for name in POST_TRAINING]


# -- the frames ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Prepared:
    frame: pd.DataFrame  # rows with a facet value and a label
    facet: Condition
    label: Condition
    d: np.ndarray
    y: np.ndarray
    outcome: np.ndarray
    group: np.ndarray | None
    dropped: int  # rows without a facet value or a label


def _prepare(
    frame: pd.DataFrame,
    *,
    label: str,
    label_value: Any,
    facet: str,
    facet_value: Any,
    group: str | None,
    predicted: str | None = None,
) -> _Prepared:
    facet_cond = facet_condition(frame, facet, facet_value)
    label_cond = label_condition(frame, label, label_value)
    if group is not None:
        require_column(frame, group, what="group")
    if predicted is not None:
        require_column(frame, predicted, what="predicted label")
    keep = frame[facet_cond.column].notna() & frame[label].notna()
    if predicted is not None:
        keep &= frame[predicted].notna()
    kept = frame[keep.to_numpy()].reset_index(drop=True)
    labels = kept[label]
    # The distributional metrics use the label's own values; a threshold label has two.
    y = label_cond.select(labels)
    outcome = y.astype(int) if label_cond.operator is not None else labels.astype(str).to_numpy()
    return _Prepared(
        frame=kept,
        facet=facet_cond,
        label=label_cond,
        d=facet_cond.select(kept[facet_cond.column]),
        y=y,
        outcome=outcome,
        group=kept[group].astype(str).to_numpy() if group is not None else None,
        dropped=int(len(frame) - len(kept)),
    )


def bias_metrics(
    frame: pd.DataFrame,
    *,
    label: str,
    label_value: Any,
    facet: str,
    facet_value: Any = None,
    predicted: str | None = None,
    group: str | None = None,
    features: list[str] | None = None,
    neighbours: int = FLIP_TEST_NEIGHBOURS,
) -> tuple[list[BiasMetric], dict[str, Any]]:
    """Every pre-training metric, and the post-training ones when ``predicted`` names a column
    of predicted labels; with the facts they rest on (rows per facet, rows left out).

    ``features`` are the model's input columns, for the flip test.
    """
    prepared = _prepare(
        frame,
        label=label,
        label_value=label_value,
        facet=facet,
        facet_value=facet_value,
        group=group,
        predicted=predicted,
    )
    metrics = _pre_training(prepared.d, prepared.y, prepared.outcome, prepared.group)
    if predicted is not None:
        yhat = prepared.label.select(prepared.frame[predicted].rename(label))
        features = [c for c in (features or []) if c != prepared.facet.column]
        metrics += _post_training(
            prepared.frame, prepared.d, prepared.y, yhat, prepared.group, features, neighbours
        )
    facts = {
        "facet": prepared.facet.describe(),
        "facet_column": prepared.facet.column,
        "label": prepared.label.describe(),
        "label_value": prepared.label.value_text(),
        "rows": len(prepared.frame),
        "rows_a": int((~prepared.d).sum()),
        "rows_d": int(prepared.d.sum()),
        "positive_a": int((prepared.y & ~prepared.d).sum()),
        "positive_d": int((prepared.y & prepared.d).sum()),
        "rows_left_out": prepared.dropped,
    }
    return metrics, facts


def pre_training_bias(
    frame: pd.DataFrame,
    *,
    label: str,
    label_value: Any,
    facet: str,
    facet_value: Any = None,
    group: str | None = None,
) -> dict[str, float | None]:
    """The pre-training metrics (CI, DPL, KL, JS, LP, TVD, KS, CDDL) of a labelled frame.

    Parameters
    ----------
    frame
        The data, with the label and facet columns.
    label, label_value
        The label column and its positive value: a value, a list of values, or a threshold
        string such as ``">0.5"``.
    facet, facet_value
        The facet column and the value of the disfavoured group d (or ``facet="sex=female"``,
        ``facet="age<25"``); the other rows are a.
    group
        The column CDDL conditions on; without one CDDL is None.

    Returns
    -------
    dict
        Metric name to value; None where the data leave a metric undefined (see
        :func:`bias_metrics` for the reason).

    Examples
    --------
    >>> pre_training_bias(df, label="churn", label_value="Yes", facet="female=1")  # doctest: +SKIP
    {'CI': 0.0095, 'DPL': -0.0076, ...}
    """
    metrics, _ = bias_metrics(
        frame,
        label=label,
        label_value=label_value,
        facet=facet,
        facet_value=facet_value,
        group=group,
    )
    return {m.name: m.value for m in metrics}


def post_training_bias(
    frame: pd.DataFrame,
    *,
    label: str,
    predicted: str,
    label_value: Any,
    facet: str,
    facet_value: Any = None,
    group: str | None = None,
    features: list[str] | None = None,
    neighbours: int = FLIP_TEST_NEIGHBOURS,
) -> dict[str, float | None]:
    """The post-training metrics (DPPL, DI, DCAcc, DCR, SD, RD, DAR, DRR, AD, TE, CDDPL, FT, GE)
    from the observed ``label`` and the ``predicted`` label columns; a predicted value is
    positive when it meets ``label_value`` as the observed one does. The flip test (FT) looks
    at the ``neighbours`` nearest a rows of each d row in the ``features`` columns (the
    model's inputs); without ``features`` it is None."""
    metrics, _ = bias_metrics(
        frame,
        label=label,
        label_value=label_value,
        facet=facet,
        facet_value=facet_value,
        predicted=predicted,
        group=group,
        features=features,
        neighbours=neighbours,
    )
    return {m.name: m.value for m in metrics if m.info.stage == "post-training"}


# -- the live bias monitor -----------------------------------------------------------------------
DEFAULT_ALLOWED: dict[str, tuple[float, float]] = {
    "DPPL": (-0.1, 0.1),
    "DI": (0.8, 1.25),
    "AD": (-0.1, 0.1),
    "RD": (-0.1, 0.1),
    "SD": (-0.1, 0.1),
    "DAR": (-0.1, 0.1),
    "DRR": (-0.1, 0.1),
}


def allowed_ranges(thresholds: dict | None) -> dict[str, tuple[float, float]]:
    """The live bias check's allowed range per metric: the defaults changed, added or dropped
    (None) by ``thresholds``; ``clarify.bad-threshold`` for another metric or a bad range."""
    allowed = dict(DEFAULT_ALLOWED)
    for name, bounds in (thresholds or {}).items():
        if name not in COUNT_METRICS:
            raise ConfigError(
                f"No bias threshold can be set for {name!r}: the live bias check bootstraps "
                f"the metrics {', '.join(COUNT_METRICS)}.",
                code="clarify.bad-threshold",
            )
        if bounds is None:
            allowed.pop(name, None)
            continue
        try:
            low, high = (float(b) for b in bounds)
        except (TypeError, ValueError):
            low, high = np.nan, np.nan
        if not low < high:
            raise ConfigError(
                f"The allowed range of {name} must be two numbers [low, high] with low < high; "
                f"got {bounds!r}.",
                code="clarify.bad-threshold",
            )
        allowed[name] = (low, high)
    return allowed


def check_bias(
    frame: pd.DataFrame,
    *,
    label: str,
    predicted: str,
    label_value: Any,
    facet: str,
    facet_value: Any = None,
    thresholds: dict | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> tuple[dict[str, float], list[dict]]:
    """Post-training bias of a window of live traffic, for the bias monitor.

    Each metric of the confusion counts gets a normal bootstrap 95 % interval (``samples``
    multinomial resamples of the counts, value ± 1.96 standard deviations); a metric whose
    interval lies wholly outside its allowed range is a violation (``bias_drift_check``).
    ``thresholds`` maps a metric to its allowed ``(low, high)`` (None: not checked) over the
    defaults :data:`DEFAULT_ALLOWED`.

    Returns
    -------
    (metrics, violations)
        ``metrics``: flat numbers for alarms, ``bias.<METRIC>`` for each defined metric,
        ``bias.<METRIC>.lower`` / ``.upper`` for its interval, and ``bias.violations``.
        ``violations``: ``{"column", "check", "observed", "expected", "evidence"}`` each.
    """
    allowed = allowed_ranges(thresholds)
    prepared = _prepare(
        frame,
        label=label,
        label_value=label_value,
        facet=facet,
        facet_value=facet_value,
        group=None,
        predicted=predicted,
    )
    yhat = prepared.label.select(prepared.frame[predicted].rename(label))
    cells = _Cells.count(prepared.d, prepared.y, yhat)
    counts = cells.as_array()
    n = int(counts.sum())
    resampled = np.random.default_rng(seed).multinomial(n, counts / n, size=samples).T
    bootstrap = _count_metrics(_Cells(*resampled))
    metrics: dict[str, float] = {}
    violations: list[dict] = []
    for name, formula in _count_metrics(cells).items():
        point = _measure(name, formula)
        if point.value is None:
            continue
        spread = float(np.nanstd(bootstrap[name]()))
        lower, upper = point.value - BOOTSTRAP_Z * spread, point.value + BOOTSTRAP_Z * spread
        metrics[f"bias.{name}"] = point.value
        metrics[f"bias.{name}.lower"], metrics[f"bias.{name}.upper"] = lower, upper
        if name in allowed:
            low, high = allowed[name]
            if upper < low or lower > high:
                violations.append(
                    {
                        "column": prepared.facet.column,
                        "check": "bias_drift_check",
                        "observed": point.value,
                        "expected": f"{name} in [{low:g}, {high:g}]",
                        "evidence": {
                            "metric": name,
                            "facet": prepared.facet.describe(),
                            "interval": [lower, upper],
                            "allowed": [low, high],
                            "rows": n,
                            "rows_d": int(prepared.d.sum()),
                            "bootstrap_samples": samples,
                        },
                    }
                )
    metrics["bias.violations"] = float(len(violations))
    return metrics, violations
