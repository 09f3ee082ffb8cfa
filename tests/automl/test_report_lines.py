"""The one-line summaries of an AutoML job's floor check, calibration and target transforms that
the CLI and the report print."""

from __future__ import annotations

from kiln.automl import calibration_line, floor_line, recipe_label


def test_a_transformed_targets_recipe_says_so():
    assert recipe_label({"recipe": "default", "target_transform": "log"}) == "default, log target"
    assert recipe_label({"recipe": "power", "target_transform": "none"}) == "power"
    assert recipe_label({"recipe": "default"}) == "default"  # classification, or older jobs


def test_the_floor_line_names_the_best_default_and_what_did_not_finish():
    result = {
        "metric": "rmse",
        "floor": {
            "candidates": [{"trial": 1, "algorithm": "lightgbm", "rmse": 10.0}],
            "best": {"trial": 1, "algorithm": "lightgbm", "rmse": 10.0},
            "chosen": 9.5,
            "missing": ["linear"],
            "held": True,
        },
    }
    line = floor_line(result)
    assert line.startswith("rmse 9.5 out-of-fold against 10.0")
    assert "(lightgbm, trial 1)" in line and "linear did not finish in time" in line
    assert floor_line({"metric": "rmse"}) is None  # a job from before the floor


def test_the_calibration_line_gives_the_method_and_the_cross_validated_log_loss():
    tried = {"none": {"log_loss": 0.2}, "temperature": {"log_loss": 0.15}}
    chosen = {"chosen": {"method": "temperature", "temperature": 0.5}, "cross_validated": tried}
    assert calibration_line({"calibration": chosen}) == (
        "temperature (T = 0.5): cross-validated log loss 0.2 → 0.15"
    )
    none = {"chosen": {"method": "none"}, "cross_validated": tried}
    assert calibration_line({"calibration": none}).startswith("none: neither")
    assert calibration_line({"calibration": None}) is None  # regression
