"""Every bias metric against a value computed by hand on a table small enough to count."""

from math import log, sqrt

import numpy as np
import pandas as pd
import pytest

from kiln.clarify import METRICS, bias_metrics, post_training_bias, pre_training_bias
from kiln.errors import ConfigError, DataError

# Facet a: 6 rows, facet d: 5 rows. y: observed label, p: predicted label, g: the CDD group.
#   a  y 1 1 1 0 0 0    p 1 1 0 1 1 0    g x x y x y y   → TP 2, FN 1, FP 2, TN 1
#   d  y 1 1 0 0 0      p 1 0 1 0 0      g x y y x y     → TP 1, FN 1, FP 1, TN 2
TABLE = pd.DataFrame(
    {
        "f": ["a"] * 6 + ["d"] * 5,
        "y": [1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0],
        "p": [1, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0],
        "g": list("xxyxyy") + list("xyyxy"),
    }
)


def _kl(p, q):
    return sum(pi * log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


# Label distributions (0, 1): P_a = (3/6, 3/6), P_d = (3/5, 2/5); mixture for JS.
P_A, P_D = (0.5, 0.5), (0.6, 0.4)
MIX = tuple((a + d) / 2 for a, d in zip(P_A, P_D, strict=True))

PRE_TRAINING = {
    "CI": (6 - 5) / 11,
    "DPL": 3 / 6 - 2 / 5,
    "KL": 0.5 * log(0.5 / 0.6) + 0.5 * log(0.5 / 0.4),
    "JS": 0.5 * _kl(P_A, MIX) + 0.5 * _kl(P_D, MIX),
    "LP": sqrt(0.1**2 + 0.1**2),
    "TVD": 0.5 * (0.1 + 0.1),
    "KS": 0.1,
    # group x: a rows 1,2,4 and d rows 1,4 → negatives {a4, d4}: d share 1/2; positives
    #   {a1, a2, d1}: d share 1/3 → DD_x = 1/6 over 5 rows. group y: negatives {a5, a6, d3, d5}
    #   → 2/4, positives {a3, d2} → 1/2 → DD_y = 0 over 6 rows.
    "CDDL": (5 * (1 / 2 - 1 / 3) + 6 * 0) / 11,
}
POST_TRAINING = {
    "DPPL": 4 / 6 - 2 / 5,  # q′_a = (TP + FP)/n = 4/6, q′_d = 2/5
    "DI": (2 / 5) / (4 / 6),
    "DCAcc": 3 / 4 - 2 / 2,  # observed / predicted positives: a 3/4, d 2/2
    "DCR": 3 / 3 - 3 / 2,  # observed / predicted negatives: d 3/3, a 3/2
    "SD": 2 / 3 - 1 / 3,  # TN/(TN + FP): d 2/3, a 1/3
    "RD": 2 / 3 - 1 / 2,  # TP/(TP + FN): a 2/3, d 1/2
    "DAR": 2 / 4 - 1 / 2,  # TP/(TP + FP): a 2/4, d 1/2
    "DRR": 2 / 3 - 1 / 2,  # TN/(TN + FN): d 2/3, a 1/2
    "AD": 3 / 6 - 3 / 5,
    "TE": 2 / 1 - 1 / 1,  # FP/FN: a 2/1, d 1/1
    # predicted labels; group x: negatives {d4} → 1/1, positives {a1, a2, a4, d1} → 1/4;
    #   group y: negatives {a3, a6, d2, d5} → 2/4, positives {a5, d3} → 1/2.
    "CDDPL": (5 * (1 - 1 / 4) + 6 * 0) / 11,
    # b = p − y + 1: 1 1 0 2 2 1 | 1 0 2 1 1; Σb = 12, Σb² = 18, n = 11, b̄ = 12/11
    "GE": (18 / (12 / 11) ** 2 - 11) / (2 * 11),
}


def test_the_hand_computed_table_covers_every_metric_but_the_flip_test():
    assert set(PRE_TRAINING) | set(POST_TRAINING) | {"FT"} == set(METRICS)


@pytest.mark.parametrize("name", list(PRE_TRAINING))
def test_pre_training_metric_matches_the_hand_computed_value(name):
    values = pre_training_bias(
        TABLE, label="y", label_value=1, facet="f", facet_value="d", group="g"
    )
    assert values[name] == pytest.approx(PRE_TRAINING[name])


@pytest.mark.parametrize("name", list(POST_TRAINING))
def test_post_training_metric_matches_the_hand_computed_value(name):
    values = post_training_bias(
        TABLE, label="y", predicted="p", label_value="1", facet="f=d", group="g"
    )
    assert values[name] == pytest.approx(POST_TRAINING[name])


def test_flip_test_counts_d_rows_their_nearest_a_rows_would_decide_otherwise():
    # a: x = 0 (accepted), 10 (refused). d: x = 1 refused (nearest a accepted: F⁺),
    # x = 9 accepted (nearest a refused: F⁻), x = 0.5 refused (nearest a accepted: F⁺).
    frame = pd.DataFrame(
        {
            "f": ["a", "a", "d", "d", "d"],
            "x": [0, 10, 1, 9, 0.5],
            "y": [1, 0, 1, 0, 1],
            "p": [1, 0, 0, 1, 0],
        }
    )
    values = post_training_bias(
        frame, label="y", predicted="p", label_value=1, facet="f=d", features=["x", "f"],
        neighbours=1,
    )  # fmt: skip
    assert values["FT"] == pytest.approx((2 - 1) / 3)


def test_flip_test_takes_the_majority_of_k_neighbours_in_standardised_space():
    # Two features; 'big' spans thousands, 'small' units. Unscaled, 'big' alone would pick the
    # neighbours; standardised, the d row (big 500, small 0) is nearest the three a rows with
    # small 0 (two refused, one accepted): refused by the majority, so no flip for a refused d.
    frame = pd.DataFrame(
        {
            "f": ["a"] * 6 + ["d"],
            "big": [0, 1000, 0, 1000, 400, 600, 500],
            "small": [0, 0, 0, 5, 5, 5, 0],
            "y": [1] * 7,
            "p": [0, 0, 1, 1, 1, 1, 0],
        }
    )
    values = post_training_bias(
        frame, label="y", predicted="p", label_value=1, facet="f=d", features=["big", "small"],
        neighbours=3,
    )  # fmt: skip
    assert values["FT"] == 0.0


def test_undefined_metrics_are_none_with_a_reason_never_zero():
    # Nobody is predicted positive; facet d has only negative labels.
    frame = pd.DataFrame({"f": ["a", "a", "d", "d"], "y": [1, 0, 0, 0], "p": [0, 0, 0, 0]})
    metrics, _ = bias_metrics(frame, label="y", label_value=1, facet="f=d", predicted="p")
    by_name = {m.name: m for m in metrics}
    assert by_name["KL"].value is None and "occur in facet a but never in d" in by_name["KL"].reason
    assert by_name["JS"].value is not None  # the symmetric divergences stay defined
    assert by_name["DI"].value is None and "q′_a = 0" in by_name["DI"].reason
    assert by_name["DCAcc"].value is None and "predicted positive" in by_name["DCAcc"].reason
    assert (
        by_name["RD"].value is None and "facet d has no observed positive" in by_name["RD"].reason
    )
    assert by_name["TE"].value is None and "FN_d = 0" in by_name["TE"].reason
    assert by_name["CDDL"].value is None and "--group" in by_name["CDDL"].reason
    assert by_name["FT"].value is None and "input columns" in by_name["FT"].reason
    assert by_name["AD"].value == pytest.approx(1 / 2 - 1)  # a: 1 of 2 right, d: 2 of 2
    assert all((m.value is None) == (m.reason is not None) for m in metrics)


def test_generalized_entropy_is_undefined_when_every_prediction_is_a_false_negative():
    frame = pd.DataFrame({"f": ["a", "d"], "y": [1, 1], "p": [0, 0]})
    metrics, _ = bias_metrics(frame, label="y", label_value=1, facet="f=d", predicted="p")
    ge = next(m for m in metrics if m.name == "GE")
    assert ge.value is None and "false negative" in ge.reason


def test_cdd_leaves_out_groups_without_both_outcomes():
    # Group z has only positive labels: no DD, its rows out of the mean; the rest as TABLE.
    extra = pd.DataFrame({"f": ["d", "a"], "y": [1, 1], "p": [1, 1], "g": ["z", "z"]})
    values = pre_training_bias(
        pd.concat([TABLE, extra]), label="y", label_value=1, facet="f=d", group="g"
    )
    assert values["CDDL"] == pytest.approx(PRE_TRAINING["CDDL"])


def test_a_numeric_threshold_facet_and_label():
    frame = pd.DataFrame({"age": [20, 22, 30, 40, 50], "score": [0.9, 0.2, 0.8, 0.7, 0.1]})
    values = pre_training_bias(frame, label="score", label_value=">0.5", facet="age<25")
    # d = ages 20, 22 (1 of 2 positive), a = 30, 40, 50 (2 of 3 positive)
    assert values["CI"] == pytest.approx((3 - 2) / 5)
    assert values["DPL"] == pytest.approx(2 / 3 - 1 / 2)
    assert values["TVD"] == pytest.approx(2 / 3 - 1 / 2)  # two outcomes: TVD = |DPL|


def test_a_boolean_facet_column_alone_selects_true_and_a_list_selects_any_value():
    frame = pd.DataFrame(
        {"senior": [True, True, False, False, False], "y": ["no", "yes", "yes", "yes", "no"]}
    )
    values = pre_training_bias(frame, label="y", label_value="yes", facet="senior")
    assert values["DPL"] == pytest.approx(2 / 3 - 1 / 2)
    grouped = TABLE.assign(f=["a", "b", "c", "a", "b", "c", "d", "e", "d", "e", "d"])
    listed = pre_training_bias(grouped, label="y", label_value=1, facet="f", facet_value=["d", "e"])
    assert listed["CI"] == pytest.approx(PRE_TRAINING["CI"])


def test_multiclass_labels_compare_their_whole_distributions():
    frame = pd.DataFrame({"f": ["a", "a", "d", "d"], "y": ["x", "y", "x", "z"]})
    values = pre_training_bias(frame, label="y", label_value="x", facet="f=d")
    assert values["DPL"] == 0.0  # "x" equally often
    assert values["TVD"] == pytest.approx(0.5)  # P_a = (½, ½, 0), P_d = (½, 0, ½)
    assert values["KS"] == pytest.approx(0.5)
    assert values["LP"] == pytest.approx(sqrt(0.5))


def test_rows_without_a_facet_value_or_label_are_left_out_and_counted():
    frame = pd.concat([TABLE, pd.DataFrame({"f": [None, "d"], "y": [1, np.nan]})])
    metrics, facts = bias_metrics(frame, label="y", label_value=1, facet="f=d", group="g")
    assert facts["rows_left_out"] == 2 and facts["rows"] == 11
    assert next(m.value for m in metrics if m.name == "CI") == pytest.approx(PRE_TRAINING["CI"])


@pytest.mark.parametrize(
    ("facet", "label_value", "code", "words"),
    [
        ("sex=f", 1, "clarify.unknown-column", ["'sex'", "Its columns"]),
        ("f=e", 1, "clarify.unknown-facet-value", ["f = e", "'a', 'd'"]),
        ("f=d", 2, "clarify.unknown-label-value", ["never takes the value 2", "'0', '1'"]),
        ("g", 1, "clarify.missing-facet-value", ["--facet g=VALUE", "'y', 'x'"]),
        ("f<3", 1, "clarify.bad-value", ["not numeric"]),
        ("y<x", 1, "clarify.bad-value", ["not a number"]),
    ],
)
def test_bad_facets_and_label_values_are_refused_with_what_would_do(
    facet, label_value, code, words
):
    with pytest.raises((ConfigError, DataError)) as caught:
        pre_training_bias(TABLE, label="y", label_value=label_value, facet=facet)
    assert caught.value.code == code
    for word in words:
        assert word in caught.value.message


def test_a_facet_every_row_has_leaves_nothing_to_compare():
    with pytest.raises(DataError) as caught:
        pre_training_bias(TABLE.assign(f="d"), label="y", label_value=1, facet="f=d")
    assert caught.value.code == "clarify.one-group"


def test_docs_give_every_metric_with_the_formula_the_code_uses():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "clarify.md").read_text()
    for info in METRICS.values():
        assert f"**{info.name}** {info.title}" in docs, info.name
        assert info.formula.replace("|", "\\|") in docs, info.name


def test_predicted_values_meet_a_threshold_label_as_the_observed_ones_do():
    # A regression model's predicted scores: positive when > 0.5, as the observed label.
    frame = pd.DataFrame(
        {
            "f": ["a", "a", "d", "d"],
            "score": [0.9, 0.2, 0.7, 0.1],
            "predicted": [0.8, 0.6, 0.4, 0.3],
        }
    )
    values = post_training_bias(
        frame, label="score", predicted="predicted", label_value=">0.5", facet="f=d"
    )
    assert values["DPPL"] == pytest.approx(2 / 2 - 0 / 2)
    assert values["RD"] == pytest.approx(1 / 1 - 0 / 1)  # d's one positive is missed
    assert values["DI"] == 0.0
