"""``profile()``: statistics, plot aggregates, warnings and a quick model for one table."""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from kiln import __version__
from kiln.data import (
    BOOLEAN,
    CATEGORICAL,
    DATETIME,
    IDENTIFIER,
    NUMERIC,
    SEMANTIC_TYPES,
    TEXT,
    infer_schema,
)
from kiln.errors import DataError
from kiln.profile import _stats, _target, _warnings
from kiln.profile._format import counted
from kiln.profile._report import render_profile
from kiln.profile._series import series_facts, timeseries_options
from kiln.profile._stats import clean
from kiln.reports import write

__all__ = ["FORMAT", "SAMPLE_ROWS", "Profile", "profile"]

# Version of the JSON layout; a stored profile of another format is recomputed.
FORMAT = 2
# Plots, Spearman correlations, single-feature power and the quick model use a seeded uniform
# sample of at most this many rows; every statistic in the column table uses all rows.
SAMPLE_ROWS = 50_000
HIST_BINS = 40
DENSITY_POINTS = 2_000  # sample values the kernel density estimate is fitted on
SCATTER_COLUMNS = 5
SCATTER_POINTS = 1_000
MISSING_BLOCKS = 50
MISSING_PATTERNS = 10
# Categorical columns with at most this many values get Cramér's V with each other.
MAX_ASSOCIATION_VALUES = 50
FEATURE_CATEGORIES = 10  # categories shown per feature-against-target plot
MAX_TARGET_CLASSES = 50  # a classification target with more classes gets no per-class plots


@dataclass
class Profile:
    """The profile of one table: ``to_dict()`` for the facts, ``to_html()`` for the report."""

    facts: dict
    plots: dict = field(default_factory=dict, repr=False)

    @property
    def warnings(self) -> list[dict]:
        return self.facts["warnings"]

    @property
    def columns(self) -> dict[str, dict]:
        return self.facts["column_stats"]

    @property
    def quick_model(self) -> dict:
        return self.facts["quick_model"]

    def to_dict(self) -> dict:
        """The facts as JSON-ready data (no plot aggregates)."""
        return self.facts

    def to_html(self) -> str:
        """The self-contained HTML report (plotly.js inlined; opens offline)."""

        return render_profile(self)

    def write_html(self, path: str | os.PathLike) -> Path:
        return write(path, self.to_html())


def _as_source(data: Any) -> tuple[_stats.Source, pa.Table | None]:
    if isinstance(data, str | os.PathLike):
        return _stats.Source.open(Path(data)), None
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
        if repeated:
            raise DataError(
                f"The table has more than one column named {repeated[0]!r}; give each column "
                "its own name.",
                code="profile.bad-input",
                field=repeated[0],
            )
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(
                f"A column mixes value types that have no common type ({exc}). Make each "
                "column one type (e.g. frame[col].astype(str)) before profiling.",
                code="profile.bad-input",
            ) from None
    elif isinstance(data, pa.Table):
        table = data
    else:
        raise DataError(
            f"Cannot profile a {type(data).__name__}: give a pandas DataFrame, a pyarrow Table, "
            "a Parquet file or a data set version.",
            code="profile.bad-input",
        )
    return _stats.Source.open(table), table


def _infer_types(source: _stats.Source, table: pa.Table | None) -> dict[str, str]:
    if table is None:
        import pyarrow.parquet as pq

        table = pq.read_table(source.parquet)
    return {c["name"]: c["type"] for c in infer_schema(table)["columns"]}


def profile(
    data: pd.DataFrame | pa.Table | str | os.PathLike,
    *,
    target: str | None = None,
    types: dict[str, str] | None = None,
    title: str = "table",
    sample_rows: int = SAMPLE_ROWS,
    seed: int = 42,
    model: bool = True,
    timeseries: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> Profile:
    """Profile a table: exact column statistics, warnings, plot aggregates and a quick model.

    Parameters
    ----------
    data
        A pandas DataFrame, a pyarrow Table or the path of a Parquet file.
    target
        The column to predict: adds the target distribution, each feature against the target,
        the leakage and imbalance checks and the quick model.
    types
        kiln's semantic type of each column (a data set version's ``column_types()``); inferred
        as at ingest when not given.
    title
        What the report calls the table (``churn:3``).
    sample_rows
        Plots, Spearman correlations and the quick model use a seeded uniform sample of at most
        this many rows; the statistics always use all rows.
    seed
        Seed of the sample and the quick model.
    model
        ``False`` skips the quick model.
    timeseries
        Profile the table as a long table of time series: ``{"id": [columns], "timestamp":
        column, "target": column (default: ``target``), "frequency": None}`` adds the
        frequency, season, series lengths, gaps, hints and per-series statistics (see
        :func:`kiln.profile.timeseries_profile`). The quick model is skipped: shuffled folds
        would score the future from the past's neighbours; backtest a forecaster instead.
    progress
        Called with the name of each stage as it starts.

    Returns
    -------
    Profile

    Examples
    --------
    >>> p = profile(frame, target="churn")                          # doctest: +SKIP
    >>> [w["kind"] for w in p.warnings], p.quick_model["metrics"]   # doctest: +SKIP
    """
    started = time.perf_counter()
    say = progress or (lambda _stage: None)
    if not isinstance(sample_rows, int) or sample_rows < 1:
        raise DataError(
            f"sample_rows must be a whole number of at least 1; got {sample_rows!r}.",
            code="profile.bad-input",
            field="sample_rows",
        )
    series = timeseries_options(timeseries, target)
    source, table = _as_source(data)
    try:
        return _profile(
            source, table, target, types, title, sample_rows, seed, model, say, started, series
        )
    finally:
        source.close()


def _check(source: _stats.Source, target: str | None, title: str) -> None:
    if source.row_count == 0 or not source.arrow_types:
        raise DataError(
            f"{title} has no rows, so there is nothing to profile. Ingest data with rows first.",
            code="profile.empty",
        )
    if target is not None and target not in source.arrow_types:
        columns = list(source.arrow_types)
        close = difflib.get_close_matches(target, columns, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(
            f"{title} has no column {target!r} to use as the target.{hint} Its columns: "
            f"{', '.join(columns[:30])}{' …' if len(columns) > 30 else ''}.",
            code="profile.unknown-target",
            field=target,
        )


def _profile(source, table, target, types, title, sample_rows, seed, model, say, started, series):
    _check(source, target, title)
    series_found = None
    if series is not None:
        # First: a timestamp that does not parse or a duplicate stops the profile at once.
        say("time series")
        series_started = time.perf_counter()
        series_found = series_facts(source, series)
        series_seconds = time.perf_counter() - series_started
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 3)
        clock[0] = now

    given = dict(types or {})
    inferred = _infer_types(source, table) if set(source.arrow_types) - set(given) else {}
    unknown_types = {c: t for c, t in given.items() if t not in SEMANTIC_TYPES}
    if unknown_types:
        column, kind = next(iter(unknown_types.items()))
        raise DataError(
            f"Unknown semantic type {kind!r} for column {column!r}; use one of "
            f"{', '.join(SEMANTIC_TYPES)}.",
            code="profile.bad-input",
            field=column,
        )
    types = {c: given.get(c, inferred.get(c, CATEGORICAL)) for c in source.arrow_types}
    if target is not None and types[target] == DATETIME:
        raise DataError(
            f"The target {target!r} of {title} is a datetime column; choose a numeric, "
            "categorical or boolean column to predict.",
            code="profile.bad-target",
            field=target,
        )
    n = source.row_count

    say("column statistics (all rows)")
    stats = {c: _stats.column_stats(source, c, t) for c, t in types.items()}
    numeric = [c for c, t in types.items() if t == NUMERIC]
    _stats.outlier_stats(source, {c: stats[c] for c in numeric})
    duplicates = _stats.duplicate_rows(source)
    classes = _class_counts(source, target, stats) if target is not None else None
    source.close()  # DuckDB keeps the memory of its hash tables until the connection closes
    lap("statistics")

    say("correlations (Pearson on all rows)")
    correlated = [c for c in numeric if stats[c]["distinct"] > 1]
    pearson = _stats.pearson_matrix(source, correlated, [stats[c]["mean"] for c in correlated])
    lap("pearson")

    say(f"sampling {min(n, sample_rows):,} of {counted(n, 'row')}")
    sample, _index = source.sample(sample_rows, seed=seed)
    lap("sample")
    spearman = _stats.spearman_matrix(sample, correlated)
    lap("spearman")
    associated = [
        c
        for c, t in types.items()
        if t in (CATEGORICAL, BOOLEAN) and 1 < stats[c]["distinct"] <= MAX_ASSOCIATION_VALUES
    ]
    cramers_v = _stats.cramers_v_matrix(sample, associated)
    lap("associations")

    warnings: list[dict] = []
    for column, column_stats in stats.items():
        kind = source.arrow_types[column]
        warnings += _warnings.column_warnings(
            column,
            column_stats,
            arrow_integer_or_string=pa.types.is_integer(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_string(kind),
        )
    warnings += _warnings.correlation_warnings(correlated, pearson, spearman)
    warnings += _warnings.association_warnings(associated, cramers_v)
    warnings += _warnings.duplicate_warning(duplicates, n)

    say("plots")
    plots: dict[str, Any] = {
        "numeric": {c: _numeric_plot(sample[c], stats[c]) for c in numeric},
        "pearson": pearson,
        "spearman": spearman,
        "correlated": correlated,
        "scatter": _scatter(sample, correlated, pearson, target, seed),
        "missing": _missing_pattern(sample, stats),
    }
    lap("plots")

    target_facts = None
    quick: dict = {"status": "skipped", "reason": "no target given (use --target COLUMN)"}
    if target is not None:
        say("target analysis")
        target_facts, target_plots, target_warnings = _analyse_target(
            sample, target, types, stats, classes
        )
        plots["target"] = target_plots
        warnings += target_warnings
        lap("target")
        problem = target_facts["problem_type"]
        if not model:
            quick = {"status": "skipped", "reason": "the quick model was turned off"}
        elif series is not None:
            quick = {
                "status": "skipped",
                "reason": "a time-series profile (shuffled folds would leak the future); "
                "backtest a forecaster with kiln train --problem-type forecasting",
            }
        elif problem is None:
            quick = {"status": "skipped", "reason": f"the target {target!r} has a single value"}
        elif target_facts.get("too_many_classes"):
            quick = {
                "status": "skipped",
                "reason": f"the target has {stats[target]['distinct']:,} classes "
                f"(more than {MAX_TARGET_CLASSES})",
            }
        else:
            say("quick model (3-fold cross-validation)")
            features = _target.model_features(types, stats, target)
            features = [f for f in features if not _is_identifier_like(f, warnings)]
            quick = _target.quick_model(sample, target, problem, features, seed=seed)
            lap("quick_model")

    missing_cells = sum(s["missing"] for s in stats.values())
    type_counts: dict[str, int] = {}
    for t in types.values():
        type_counts[t] = type_counts.get(t, 0) + 1

    facts = {
        "format": FORMAT,
        "title": title,
        "rows": n,
        "columns": len(types),
        "types": type_counts,
        "missing_cells": missing_cells,
        "missing_cells_pct": round(100 * missing_cells / (n * len(types)), 4),
        "duplicate_rows": duplicates,
        "duplicate_rows_pct": round(100 * duplicates / n, 4),
        "sample": {
            "rows": len(sample),
            "of": n,
            "sampled": len(sample) < n,
            "limit": sample_rows,
            "seed": seed,
            "used_for": [
                "plots",
                "spearman correlations",
                "cramér's v associations",
                "single-feature power",
                "quick model",
            ],
        },
        "column_stats": stats,
        "correlations": {
            "columns": correlated,
            "pearson": _matrix(pearson),
            "spearman": _matrix(spearman),
        },
        "associations": {"columns": associated, "cramers_v": _matrix(cramers_v)},
        "target": target_facts,
        "quick_model": quick,
        "warnings": warnings,
        "kiln_version": __version__,
    }
    if series_found is not None:
        facts["timeseries"] = series_found[0] | {"options": series}
        plots["timeseries"] = series_found[1]
        timings["timeseries"] = round(series_seconds, 3)
    facts["timings"] = timings
    facts["seconds"] = round(time.perf_counter() - started, 3)
    return Profile(facts, plots)


def _is_identifier_like(column: str, warnings: list[dict]) -> bool:
    return any(w["kind"] == "identifier" and w["columns"] == [column] for w in warnings)


def _matrix(matrix: np.ndarray) -> list[list[float | None]]:
    return [[clean(round(float(v), 6)) for v in row] for row in matrix]


def _numeric_plot(values: pd.Series, stats: dict) -> dict:
    """A histogram of the sample with a scaled kernel density estimate."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return {}
    if x.min() == x.max():  # one value: one bar (np.histogram cannot bin 1e17 ± 0.5)
        return {"counts": [len(x)], "edges": [float(x.min()), float(x.max())]}
    counts, edges = np.histogram(x, bins=HIST_BINS if stats["distinct"] > 1 else 1)
    out = {"counts": counts.tolist(), "edges": [float(e) for e in edges]}
    if stats["distinct"] > 2 and np.std(x) > 0:
        fit = x if len(x) <= DENSITY_POINTS else np.random.default_rng(0).choice(x, DENSITY_POINTS)
        grid = np.linspace(edges[0], edges[-1], 60)
        out["density_x"] = grid.tolist()
        out["density_y"] = (gaussian_density(fit, grid) * len(x) * (edges[1] - edges[0])).tolist()
    return out


def gaussian_density(points: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """One-dimensional Gaussian kernel density of ``points`` on ``grid``, Scott's bandwidth.

    The same estimate as ``scipy.stats.gaussian_kde`` in one dimension, written out because
    importing ``scipy.stats`` costs about a second, half of a 100,000-row profile.
    """
    bandwidth = np.std(points, ddof=1) * len(points) ** (-1 / 5)
    z = (grid[:, None] - points[None, :]) / bandwidth
    return np.exp(-0.5 * z**2).sum(axis=1) / (len(points) * bandwidth * np.sqrt(2 * np.pi))


def _scatter(sample, correlated, pearson, target, seed) -> dict:
    """Up to 1,000 sample rows of the most correlated numeric columns (a scatter-plot matrix)."""
    if len(correlated) < 2:
        return {}
    strength = np.nan_to_num(np.abs(pearson), nan=0.0)
    np.fill_diagonal(strength, 0.0)
    order = np.argsort(-strength.max(axis=1))
    columns = [correlated[i] for i in order[:SCATTER_COLUMNS]]
    rows = (
        sample
        if len(sample) <= SCATTER_POINTS
        else sample.sample(SCATTER_POINTS, random_state=seed)
    )
    out = {
        "columns": columns,
        "values": {c: [clean(v) for v in pd.to_numeric(rows[c], errors="coerce")] for c in columns},
        "points": len(rows),
    }
    if target is not None:
        out["target"] = [clean(v) for v in rows[target].astype("object")]
    return out


def _missing_pattern(sample: pd.DataFrame, stats: dict) -> dict:
    """Missing share per column in consecutive row blocks of the sample, and frequent patterns."""
    columns = [c for c, s in stats.items() if s["missing"]]
    if not columns:
        return {}
    missing = sample[columns].isna()
    blocks = np.array_split(np.arange(len(sample)), min(MISSING_BLOCKS, len(sample)))
    shares = [[float(missing[c].to_numpy()[b].mean()) for c in columns] for b in blocks]
    patterns = missing[missing.any(axis=1)].value_counts().head(MISSING_PATTERNS)
    return {
        "columns": columns,
        "block_shares": shares,
        "patterns": [
            {"missing": [c for c, flag in zip(columns, key, strict=True) if flag], "rows": int(n)}
            for key, n in patterns.items()
        ],
    }


def _box(values: np.ndarray) -> dict | None:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    return {
        "q1": float(q1),
        "median": float(median),
        "q3": float(q3),
        "lowerfence": float(inside.min()),
        "upperfence": float(inside.max()),
        "mean": float(values.mean()),
        "n": len(values),
    }


def _class_counts(source: _stats.Source, target: str, stats: dict) -> list[tuple] | None:
    """Exact counts of the most frequent target values, when the target is a class label."""
    if _target.problem_type(stats[target]) not in (_target.BINARY, _target.MULTICLASS):
        return None
    expression = source.expression(target)
    rows = source.rows(
        f"SELECT {expression} AS v, count(*) FROM {source.relation} "
        f"WHERE {expression} IS NOT NULL "
        f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {MAX_TARGET_CLASSES + 1}"
    )
    # Labels as the data holds them: the expression reads integers and booleans as numbers.
    kind = source.arrow_types[target]
    if pa.types.is_boolean(kind):
        return [(bool(v), n) for v, n in rows]
    if pa.types.is_integer(kind):
        return [(int(v), n) for v, n in rows]
    return rows


def _analyse_target(sample, target, types, stats, counts):
    column = stats[target]
    problem = _target.problem_type(column)
    facts: dict[str, Any] = {
        "name": target,
        "type": column["type"],
        "problem_type": problem,
        "missing": column["missing"],
    }
    warnings: list[dict] = []
    plots: dict[str, Any] = {"features": {}}
    rows = _target.labelled(sample, target)
    if problem in (_target.BINARY, _target.MULTICLASS):
        total = column["count"]
        facts["classes"] = [
            {"value": clean(v), "count": int(c), "pct": round(100 * c / total, 4)}
            for v, c in counts[:MAX_TARGET_CLASSES]
        ]
        if len(counts) > MAX_TARGET_CLASSES:
            facts["too_many_classes"] = True
            return facts, plots, warnings
        warnings += _warnings.imbalance_warning(target, facts["classes"])
        classes = [c["value"] for c in facts["classes"]]
        labels = rows[target].astype("object").map(clean)
    elif problem == _target.REGRESSION:
        facts["stats"] = {
            k: column[k] for k in ("mean", "std", "min", "q1", "median", "q3", "max", "skewness")
        }
        y = pd.to_numeric(rows[target], errors="coerce").to_numpy(dtype=float)
        plots["histogram"] = _numeric_plot(rows[target], column)
    else:
        return facts, plots, warnings
    if problem is None:
        return facts, plots, warnings

    power = _target.single_feature_power(sample, target, problem, types)
    facts["feature_power"] = power
    warnings += _warnings.leakage_warnings(target, power)
    if problem != _target.REGRESSION:
        # Computed once for all features: the label of each row, and each class's rows.
        label_codes, label_values = pd.factorize(labels.astype("string"), use_na_sentinel=False)
        class_rows = {value: (labels == value).to_numpy() for value in classes}

    for feature, semantic in types.items():
        if feature == target or semantic in (DATETIME, TEXT, IDENTIFIER):
            continue
        if stats[feature]["distinct"] < 2 or _is_id(feature, stats):
            continue
        few_values = stats[feature]["distinct"] <= FEATURE_CATEGORIES
        if semantic == NUMERIC and not few_values:
            x = pd.to_numeric(rows[feature], errors="coerce").to_numpy(dtype=float)
            if problem == _target.REGRESSION:
                plots["features"][feature] = _heatmap2d(x, y)
            else:
                boxes = {}
                for value in classes:
                    box = _box(x[class_rows[value]])
                    if box:
                        boxes[str(value)] = box
                plots["features"][feature] = {"kind": "box", "groups": boxes}
        else:
            text = rows[feature].astype("string").fillna("(missing)")
            frequent = text.value_counts().index[:FEATURE_CATEGORIES]
            text = text.where(text.isin(frequent), "(other)")
            if problem == _target.REGRESSION:
                boxes = {}
                for value in list(frequent) + ["(other)"]:
                    box = _box(y[(text == value).to_numpy()])
                    if box:
                        boxes[str(value)] = box
                plots["features"][feature] = {"kind": "box", "groups": boxes}
            else:
                codes, values = pd.factorize(text, sort=True)
                width = len(label_values)
                counts = np.bincount(codes * width + label_codes, minlength=len(values) * width)
                order = np.argsort([str(v) for v in label_values], kind="stable")
                plots["features"][feature] = {
                    "kind": "contingency",
                    "rows": [str(v) for v in values],
                    "columns": [str(label_values[i]) for i in order],
                    "counts": counts.reshape(len(values), width)[:, order].tolist(),
                }
    return facts, plots, warnings


def _is_id(column: str, stats: dict) -> bool:
    s = stats[column]
    return s["type"] == IDENTIFIER or (s["count"] >= 20 and s["distinct"] == s["count"])


def _heatmap2d(x: np.ndarray, y: np.ndarray, bins: int = 30) -> dict:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() == 0:
        return {}
    counts, x_edges, y_edges = np.histogram2d(x[keep], y[keep], bins=bins)
    return {
        "kind": "heatmap2d",
        "x": ((x_edges[:-1] + x_edges[1:]) / 2).tolist(),
        "y": ((y_edges[:-1] + y_edges[1:]) / 2).tolist(),
        "counts": counts.T.astype(int).tolist(),
    }
