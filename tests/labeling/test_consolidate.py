import numpy as np
import pandas as pd
import pytest

from kiln.labeling._consolidate import (
    consolidate_answers,
    dawid_skene,
    fleiss_kappa,
    krippendorff_alpha,
)


def answers(rows):
    return pd.DataFrame(rows, columns=["item", "annotator", "answer"])


def test_fleiss_kappa_matches_fleiss_worked_example():
    # Fleiss (1971) via Wikipedia's "Fleiss' kappa" worked example: 10 subjects, 14 raters.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(np.array(table)) == pytest.approx(0.20993, abs=1e-5)
    assert fleiss_kappa(np.array([[2, 0], [1, 2]])) is None  # unequal rater counts


def test_krippendorff_alpha_matches_krippendorffs_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example: 0.743.
    n = np.nan
    matrix = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    assert krippendorff_alpha(np.array(matrix)) == pytest.approx(0.743, abs=1e-3)


def test_dawid_skene_outvotes_a_colluding_pair_that_majority_follows():
    # Two sloppy annotators (b, c) always say "x"; a reliable one (a) agrees with the truth and
    # a fourth (d), also reliable, answers only the first half of the items.
    rng = np.random.default_rng(0)
    truth = rng.choice(["x", "y"], size=200)
    rows = []
    for i, label in enumerate(truth):
        rows.append((i, "a", label))
        rows += [(i, "b", "x" if rng.random() < 0.9 else "y"), (i, "c", "x")]
        if i < 100:
            rows.append((i, "d", label))
    frame = answers(rows)
    ds = consolidate_answers(frame, task="classification", labels=["x", "y"])
    vote = consolidate_answers(frame, task="classification", labels=["x", "y"], method="majority")
    ds_right = (ds.labels.sort_values("item")["label"].to_numpy() == truth).mean()
    vote_right = (vote.labels.sort_values("item")["label"].to_numpy() == truth).mean()
    assert ds_right > 0.95 > vote_right
    assert ds.accuracy["a"] > ds.accuracy["c"]
    assert set(ds.labels["method"]) == {"consolidated"}
    assert ds.labels["confidence"].min() > 0 and ds.labels["confidence"].max() <= 1


def test_smoothing_keeps_a_one_answer_annotator_from_a_degenerate_matrix():
    _, confusion = dawid_skene(
        np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([0, 0, 1]), 2, 2, 2
    )
    assert (confusion > 0).all() and (confusion < 1).all()


def test_one_annotator_per_item_is_a_flagged_majority_of_one():
    result = consolidate_answers(
        answers([(0, "a", "x"), (1, "b", "y")]), task="classification", labels=["x", "y"]
    )
    assert result.labels["label"].tolist() == ["x", "y"]
    assert set(result.labels["method"]) == {"human"}
    assert result.single == 2
    assert result.agreement["fleiss_kappa"] is None
    assert result.agreement["krippendorff_alpha"] is None
    assert "majority of one" in result.agreement["note"]
    assert result.accuracy == {"a": None, "b": None}


def test_multi_label_is_one_yes_no_question_per_label():
    rows = [
        (0, "a", ["cat", "dog"]),
        (0, "b", ["cat"]),
        (0, "c", ["cat", "dog"]),
        (1, "a", []),
        (1, "b", ["bird"]),
        (1, "c", []),
    ]
    result = consolidate_answers(
        answers(rows), task="multi-label", labels=["cat", "dog", "bird"], method="majority"
    )
    assert result.labels["label"].tolist() == [["cat", "dog"], []]
    assert result.labels["confidence"].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert result.accuracy == {"a": 1.0, "b": 0.0, "c": 1.0}
    assert result.agreement["krippendorff_alpha"] is not None


def test_boxes_a_majority_drew_are_kept_with_their_corners_averaged():
    box = {"x": 10.0, "y": 10.0, "width": 100.0, "height": 50.0, "label": "car"}
    rows = [
        (0, "a", [box, {"x": 300.0, "y": 300.0, "width": 5.0, "height": 5.0, "label": "car"}]),
        (0, "b", [{**box, "x": 14.0}]),
        (0, "c", [{**box, "width": 104.0, "label": "car"}]),
    ]
    result = consolidate_answers(answers(rows), task="bounding-boxes", labels=["car"])
    [kept] = result.labels["label"].iat[0]
    # corners averaged: left (10 + 14 + 10) / 3, right (110 + 114 + 114) / 3
    assert kept["x"] == pytest.approx(34 / 3) and kept["width"] == pytest.approx(304 / 3)
    assert result.labels["confidence"].iat[0] == pytest.approx((1 + 2 / 3) / 2)
    assert result.accuracy["a"] == pytest.approx(0.5) and result.accuracy["b"] == 1.0


def test_spans_take_the_median_of_the_matching_ones():
    rows = [
        (0, "a", [{"start": 0, "end": 5, "label": "PER"}]),
        (0, "b", [{"start": 0, "end": 6, "label": "PER"}]),
        (0, "c", [{"start": 1, "end": 5, "label": "PER"}, {"start": 8, "end": 9, "label": "PER"}]),
    ]
    result = consolidate_answers(answers(rows), task="text-spans", labels=["PER"])
    assert result.labels["label"].iat[0] == [{"start": 0, "end": 5, "label": "PER"}]


def test_dawid_skene_keeps_unanimous_answers_confident_when_labels_go_unused():
    # Every answer is "x" of three labels: without a prior that annotators are better than
    # chance, EM drifted to the uniform posterior (confidence 1/3, the label a float's whim).
    result = consolidate_answers(
        answers([(i, a, "x") for i in range(3) for a in ("a", "b")]),
        task="classification",
        labels=["x", "y", "z"],
    )
    assert result.labels["label"].tolist() == ["x", "x", "x"]
    assert result.labels["confidence"].min() > 0.8


@pytest.mark.parametrize("method", ["dawid-skene", "majority"])
def test_a_tie_goes_to_the_label_listed_first_by_either_method(method):
    # Before: Dawid-Skene's tied posteriors differed in the last bits, so float noise chose.
    for first, second in (("x", "y"), ("y", "x")):
        result = consolidate_answers(
            answers([(0, "a", first), (0, "b", second)]),
            task="classification",
            labels=["x", "y", "z"],
            method=method,
        )
        assert result.labels["label"].tolist() == ["x"]
