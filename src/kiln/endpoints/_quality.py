"""Model quality of an endpoint's variants on the traffic they answered, once ground truth has
arrived: accuracy (classes) or mean absolute error (values) per variant, and the difference of
each variant from the one with the most traffic, with a 95 % confidence interval."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["quality_by_variant"]

Z_95 = 1.959963984540054  # the normal quantile for a two-sided 95 % interval


def quality_by_variant(capture: pd.DataFrame, reference: str | None) -> dict:
    """``{"variants": {name: {...}}, "differences": [...]}`` from captured rows with labels.

    Classification: each labelled row is right or wrong, so a variant's accuracy is a proportion
    and the difference of two has the Wald interval of a difference of independent proportions.
    Regression: the absolute errors' means and Welch's interval for their difference (normal
    quantile: the samples are large or the interval is only indicative, and it says so).
    """
    if capture.empty or "label" not in capture or capture["label"].isna().all():
        return {"variants": {}, "differences": []}
    labelled = capture[capture["label"].notna()]
    classes = "predicted_label" in labelled
    per_variant: dict[str, dict] = {}
    samples: dict[str, pd.Series] = {}
    for variant, rows in labelled.groupby("variant", sort=True):
        if classes:
            right = (rows["predicted_label"].astype(str) == rows["label"].astype(str)).astype(float)
            samples[variant] = right
            per_variant[variant] = {"labelled_rows": len(rows), "accuracy": float(right.mean())}
        else:
            truth = pd.to_numeric(rows["label"], errors="coerce")
            error = (pd.to_numeric(rows["predicted_value"], errors="coerce") - truth).abs()
            error = error.dropna()
            samples[variant] = error
            per_variant[variant] = {
                "labelled_rows": len(error),
                "mae": float(error.mean()) if len(error) else None,
                "rmse": float(math.sqrt((error**2).mean())) if len(error) else None,
            }
    metric = "accuracy" if classes else "mae"
    differences = []
    if reference not in samples and samples:
        reference = max(samples, key=lambda v: len(samples[v]))
    for variant, sample in samples.items():
        if variant == reference or len(sample) < 2 or len(samples[reference]) < 2:
            continue
        base = samples[reference]
        difference = float(sample.mean() - base.mean())
        if classes:
            p1, p2 = sample.mean(), base.mean()
            se = math.sqrt(p1 * (1 - p1) / len(sample) + p2 * (1 - p2) / len(base))
        else:
            se = math.sqrt(sample.var(ddof=1) / len(sample) + base.var(ddof=1) / len(base))
        low, high = difference - Z_95 * se, difference + Z_95 * se
        differences.append(
            {
                "variant": variant,
                "against": reference,
                "metric": metric,
                "difference": difference,
                "ci95": [low, high],
                "significant": not (low <= 0.0 <= high),
                "rows": [len(sample), len(base)],
            }
        )
    return {"metric": metric, "variants": per_variant, "differences": differences}
