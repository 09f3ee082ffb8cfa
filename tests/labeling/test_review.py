"""The review job of an endpoint (kiln.labeling._review): the condition and sample, a majority of
several reviewers as the endpoint's ground truth, and the refusals."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from kiln.errors import StateError
from kiln.labeling import _review, parse_condition, parse_sample, rows_for_review


def prediction(top: float) -> dict:
    return {"label": "yes", "probabilities": {"no": round(1 - top, 6), "yes": top}}


@pytest.mark.parametrize(
    ("text", "holds", "fails"),
    [
        ("confidence < 0.6", 0.59, 0.6),
        ("confidence<=0.6", 0.6, 0.61),
        ("  confidence > .9 ", 0.95, 0.9),
        ("confidence >= 1", 1.0, 0.99),
    ],
)
def test_conditions_compare_the_top_class_probability(text, holds, fails):
    condition = parse_condition(text)
    assert condition.holds(holds) and not condition.holds(fails)
    setting = {"op": condition.op, "threshold": condition.threshold}
    assert rows_for_review(setting, [prediction(fails), prediction(holds)], random.Random(0)) == [1]


def test_a_sample_sends_that_share_of_the_other_predictions():
    setting = {"op": "<", "threshold": 0.0, "sample_percent": parse_sample("10%")}
    chosen = rows_for_review(setting, [prediction(0.9)] * 2000, random.Random(1))
    assert 140 < len(chosen) < 260  # 10 % of 2,000, give or take 4 standard deviations
    assert rows_for_review(setting, [{"value": 3.2}], random.Random(1)) == []  # no classes


@pytest.fixture
def reviewing(trained_copy):
    ws, result = trained_copy
    job = ws.labeling.start_review("churn", when="confidence < 0.6", annotators_per_item=3)
    rows = ws.data.load("churn").drop(columns=["churn"]).head(2)
    ws.labeling.add_items(
        job.name,
        [
            {"item": f"abc:{i}", "payload": row, "prior": job.labels[0]}
            for i, row in enumerate(rows.to_dict("records"))
        ],
    )
    return ws, job


def test_the_majority_of_several_reviewers_is_the_ground_truth(reviewing):
    ws, job = reviewing
    yes, no = job.labels[1], job.labels[0]
    for reviewer, label in (("ann", yes), ("bob", no), ("cat", yes)):
        item = ws.labeling.next_item(job.name, reviewer)
        assert item.item == "abc:0"
        ws.labeling.answer(job.name, item.item, reviewer, label)
        truth = ws.data.ground_truth_labels("churn")
        assert ("abc:0" in truth) == (reviewer == "cat")  # only once every answer is in
    assert str(truth["abc:0"]) == yes
    [answered] = ws.labeling.items(job.name, status="answered").items
    assert answered.item == "abc:0" and answered.label is None  # consolidation labels it
    version = ws.labeling.review_dataset(job.name, dataset="churn_reviewed")
    frame = ws.data.load(version)
    assert len(frame) == 1 and frame["churn"].map(str).tolist() == [yes]


def test_review_refusals(reviewing):
    ws, job = reviewing
    with pytest.raises(StateError) as nothing:
        ws.labeling.review_dataset(job.name)
    assert nothing.value.code == "review.nothing-reviewed"
    ws.data.ingest(pd.DataFrame({"text": ["a", "b"]}), name="texts")
    ws.labeling.create("plain", data="texts", task="classification", labels=["a", "b"])
    with pytest.raises(StateError) as plain:
        ws.labeling.review_dataset("plain")
    assert plain.value.code == "review.not-a-review"
    with pytest.raises(StateError) as taken:
        ws.labeling.start_review("churn", when="confidence < 0.5", job="plain")
    assert taken.value.code == "review.job-taken"
    assert ws.endpoints.get("churn").config["human_review"]["job"] == job.name  # unchanged
    from kiln.store import LabelingJobRow

    with ws.store.write() as session:  # as if the endpoint now served a model of other classes
        session.query(LabelingJobRow).filter_by(name=job.name).update({"labels": ["a", "b"]})
    with pytest.raises(StateError) as changed:
        ws.labeling.start_review("churn", when="confidence < 0.5")
    assert changed.value.code == "review.labels-changed"


def test_review_labels_are_stored_without_reading_the_capture(trained_copy):
    ws, _ = trained_copy
    stored = ws.endpoints.ground_truth(
        "churn", [{"inference_id": "never-captured:0", "label": 1}], count_unknown=False
    )
    assert stored == {"received": 1, "stored": 1, "unknown_ids": None, "examples_of_unknown": []}
    assert ws.data.ground_truth_labels("churn") == {"never-captured:0": 1}


def test_a_review_outlives_its_deleted_endpoint(reviewing):
    # Before: once the endpoint was deleted, an item's last answer was stored and then
    # reported as an error (no endpoint for its ground truth), so a retry met
    # answered-twice; the review's data set and Studio's job page failed the same way.
    ws, job = reviewing
    ws.endpoints.delete("churn")
    for reviewer in ("ann", "bob", "cat"):
        item = ws.labeling.next_item(job.name, reviewer)
        ws.labeling.answer(job.name, item.item, reviewer, job.labels[0])
    assert ws.labeling.status(job.name)["answered"] == 1
    frame = ws.data.load(ws.labeling.review_dataset(job.name))
    assert frame["churn"].map(str).tolist() == [job.labels[0]]


def test_an_answers_ground_truth_reads_its_own_items_answers_only(reviewing, monkeypatch):
    # Before: every answer of the job, read again at each item's last answer (a review job
    # grows with the traffic: each answer got slower).
    ws, job = reviewing
    read = []
    original = _review.answers_frame
    monkeypatch.setattr(
        _review,
        "answers_frame",
        lambda ctx, name, **kw: read.append(kw) or original(ctx, name, **kw),
    )
    for reviewer in ("ann", "bob", "cat"):
        item = ws.labeling.next_item(job.name, reviewer)
        ws.labeling.answer(job.name, item.item, reviewer, job.labels[1])
    assert read == [{"item": "abc:0"}]
    assert str(ws.data.ground_truth_labels("churn")["abc:0"]) == job.labels[1]
