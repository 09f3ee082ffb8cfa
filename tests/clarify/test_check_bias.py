"""The live bias check: bootstrap intervals against allowed ranges."""

import numpy as np
import pandas as pd
import pytest

from kiln.clarify import check_bias
from kiln.errors import ConfigError


def _window(rows_per_facet: int, accepted_a: int, accepted_d: int) -> pd.DataFrame:
    """Captured rows: facet a accepts ``accepted_a`` of its rows, d ``accepted_d``; the true
    labels are half positive in each facet, independent of the predictions."""
    n = rows_per_facet

    def facet(accepted: int) -> dict:
        return {
            "predicted_label": ["yes"] * accepted + ["no"] * (n - accepted),
            "label": (["yes", "no"] * n)[:n],
        }

    a, d = facet(accepted_a), facet(accepted_d)
    return pd.DataFrame(
        {
            "sex": ["m"] * n + ["f"] * n,
            "predicted_label": a["predicted_label"] + d["predicted_label"],
            "label": a["label"] + d["label"],
        }
    )


def _check(frame, **options):
    return check_bias(
        frame, label="label", predicted="predicted_label", label_value="yes", facet="sex=f",
        **options,
    )  # fmt: skip


def test_a_clear_disparity_is_a_violation_with_its_interval_as_evidence():
    metrics, violations = _check(_window(200, accepted_a=100, accepted_d=20))
    assert metrics["bias.DPPL"] == pytest.approx(100 / 200 - 20 / 200)
    assert metrics["bias.DI"] == pytest.approx((20 / 200) / (100 / 200))
    assert metrics["bias.DPPL.lower"] < metrics["bias.DPPL"] < metrics["bias.DPPL.upper"]
    found = {v["evidence"]["metric"]: v for v in violations}
    assert {"DPPL", "DI"} <= set(found)
    dppl = found["DPPL"]
    assert dppl["check"] == "bias_drift_check" and dppl["column"] == "sex"
    assert dppl["expected"] == "DPPL in [-0.1, 0.1]"
    low, high = dppl["evidence"]["interval"]
    assert low > 0.1 and low == pytest.approx(metrics["bias.DPPL.lower"])
    assert metrics["bias.violations"] == len(violations)


def test_a_difference_the_window_is_too_small_to_show_is_no_violation():
    # DPPL = 0.5 − 0.3 = 0.2 is outside (−0.1, 0.1), but on 10 rows per facet its 95 % interval
    # reaches into the allowed range: not evidence of bias drift.
    metrics, violations = _check(_window(10, accepted_a=5, accepted_d=3))
    assert metrics["bias.DPPL"] == pytest.approx(0.2)
    assert metrics["bias.DPPL.lower"] < 0.1
    assert "DPPL" not in {v["evidence"]["metric"] for v in violations}


def test_the_same_difference_on_many_rows_is_a_violation():
    metrics, violations = _check(_window(2000, accepted_a=1000, accepted_d=600))
    assert metrics["bias.DPPL"] == pytest.approx(0.2)
    assert "DPPL" in {v["evidence"]["metric"] for v in violations}


def test_thresholds_widen_add_and_drop_ranges():
    frame = _window(200, accepted_a=100, accepted_d=20)
    _, violations = _check(frame, thresholds={"DPPL": (-0.5, 0.5), "DI": None, "TE": (5, 6)})
    found = {v["evidence"]["metric"] for v in violations}
    assert "TE" in found and "DPPL" not in found and "DI" not in found


@pytest.mark.parametrize("thresholds", [{"FT": (0, 1)}, {"DPPL": (0.1, -0.1)}, {"DI": "high"}])
def test_bad_thresholds_are_refused(thresholds):
    with pytest.raises(ConfigError) as caught:
        _check(_window(20, accepted_a=10, accepted_d=5), thresholds=thresholds)
    assert caught.value.code == "clarify.bad-threshold"


def test_undefined_metrics_are_left_out_of_the_flat_metrics():
    # Nobody in a is accepted: DI (q′_d / q′_a) has no value, and no number stands in for it.
    metrics, _ = _check(_window(50, accepted_a=0, accepted_d=10))
    assert "bias.DI" not in metrics and "bias.DPPL" in metrics
    assert all(np.isfinite(v) for v in metrics.values())
