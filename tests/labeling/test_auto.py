import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError, StateError
from kiln.labeling._auto import check_share, is_check_item

RNG = np.random.default_rng(0)
SIZE = np.round(RNG.uniform(-1, 1, 400), 3)
ROWS = pd.DataFrame(
    {
        "size": SIZE,
        "colour": RNG.choice(["red", "blue"], 400),
        "truth": np.where(SIZE > 0, "big", "small"),
    }
)
TEXTS = pd.DataFrame(
    {
        "text": [f"win free money now {i}" for i in range(15)]
        + [f"meeting notes for monday {i}" for i in range(15)],
        "truth": ["spam"] * 15 + ["ham"] * 15,
    }
)


def answer_truthfully(ws, job, frame, count, annotator="ann"):
    for _ in range(count):
        item = ws.labeling.next_item(job, annotator)
        ws.labeling.answer(job, item.item, annotator, frame["truth"].iat[int(item.item)])


def test_a_round_starts_by_itself_once_enough_human_labels_exist(ws):
    ws.data.ingest(ROWS, name="shapes")
    ws.labeling.create(
        "sizes",
        data="shapes",
        task="classification",
        labels=["big", "small"],
        columns=["size", "colour"],
        auto_label={"target_accuracy": 0.9, "min_labels": 30},
    )
    answer_truthfully(ws, "sizes", ROWS, 29)
    ws.labeling.wait_for_rounds()
    assert ws.labeling.status("sizes")["auto_rounds"] == []
    assert "29 human labels of the 30 needed" in ws.labeling.auto_label("sizes")["skipped"]
    answer_truthfully(ws, "sizes", ROWS, 1)
    ws.labeling.wait_for_rounds()
    status = ws.labeling.status("sizes")
    [round_] = status["auto_rounds"]
    assert round_["human_labels"] == 30 and round_["estimated_accuracy"] >= 0.9
    assert round_["labeled"] == status["by_method"]["automatic"] > 0
    assert status["by_method"]["human"] == 30
    items = ws.labeling.items("sizes", limit=500).items  # all 400
    automatic = [i for i in items if i.method == "automatic"]
    right = [i.label["value"] == ROWS["truth"].iat[int(i.item)] for i in automatic]
    assert np.mean(right) >= 0.85
    assert all(i.confidence >= round_["threshold"] for i in automatic)
    # The check set (a fixed random draw of a fifth of the items here, about 80) goes to humans
    # first and never to the model; the rest of the queue is least-confident first.
    job_id = ws.labeling.get("sizes").id
    check = {i.item for i in items if is_check_item(job_id, i.item, check_share(200, 400))}
    human = {i.item for i in items if i.method == "human"}
    assert len(check) > 30 and human <= check
    assert not check & {i.item for i in automatic}
    left = [i for i in items if i.status == "open"]
    assert round_["left_for_humans"] == len(left)
    assert {i.item for i in left if i.priority == -1.0} == check - human
    assert all(0.5 <= i.priority < round_["threshold"] for i in left if i.item not in check)
    first = min(left, key=lambda i: (i.priority, i.position))
    assert ws.labeling.next_item("sizes", "bob").item == first.item


def test_a_round_on_request_labels_text_with_tfidf(ws):
    ws.data.ingest(TEXTS, name="mail")
    ws.labeling.create(
        "spam", data="mail", task="classification", labels=["spam", "ham"], content="text"
    )
    answer_truthfully(ws, "spam", TEXTS, 20)  # rows 0-19: 15 spam, 5 ham
    round_ = ws.labeling.auto_label("spam", min_labels=10, target_accuracy=0.9)
    assert round_["labeled"] > 0
    status = ws.labeling.status("spam")
    assert status["auto_label"] == {
        "target_accuracy": 0.9,
        "min_labels": 10,
        "batch": 10,
        "check_size": 200,
    }
    assert 0 < status["automatic_share"] < 1


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"target_accuracy": 1.5}, "labeling.bad-auto-label"),
        ({"min_labels": 3}, "labeling.bad-auto-label"),
        ({"task": "multi-label"}, "labeling.auto-label-task"),
    ],
)
def test_bad_automated_labelling_settings_are_refused_and_nothing_is_written(ws, options, code):
    ws.data.ingest(ROWS, name="shapes")
    spec = {"data": "shapes", "task": "classification", "labels": ["big", "small"]}
    task = options.pop("task", None)
    if task:
        spec["task"] = task
    with pytest.raises(ConfigError) as caught:
        ws.labeling.create("sizes", **spec, auto_label={"min_labels": 20, **options})
    assert caught.value.code == code
    assert ws.labeling.list() == []


def test_a_closed_job_is_not_labelled_automatically(ws):
    ws.data.ingest(TEXTS, name="mail")
    ws.labeling.create(
        "spam", data="mail", task="classification", labels=["spam", "ham"], content="text"
    )
    ws.labeling.stop("spam")
    with pytest.raises(StateError) as caught:
        ws.labeling.auto_label("spam", min_labels=10)
    assert caught.value.code == "labeling.closed"
    status = ws.labeling.status("spam")
    assert status["auto_rounds"] == [] and status["auto_label"] is None


def test_a_background_round_that_skips_or_fails_is_recorded_on_the_job(ws, monkeypatch):
    # Before: a skipped or failed round left no trace on the job (the failure only in the
    # process's log) and, with no round recorded, every later answer started another one.
    from kiln.labeling import _auto

    ws.data.ingest(ROWS, name="shapes")
    spec = {"data": "shapes", "task": "classification", "labels": ["big", "small"]}
    ws.labeling.create("one", **spec, columns=["size"], auto_label={"min_labels": 10})
    for _ in range(12):  # every human says "big": nothing to learn a second label from
        item = ws.labeling.next_item("one", "ann")
        ws.labeling.answer("one", item.item, "ann", "big")
        ws.labeling.wait_for_rounds()
    [skipped] = ws.labeling.status("one")["auto_rounds"]
    assert skipped["human_labels"] == 10 and "two human labels" in skipped["skipped"]

    def broken(*args, **kwargs):
        raise ValueError("the model could not be trained")

    monkeypatch.setattr(_auto, "fit_round", broken)
    ws.labeling.create("two", **spec, columns=["size"], auto_label={"min_labels": 10})
    answer_truthfully(ws, "two", ROWS, 10)
    ws.labeling.wait_for_rounds()
    [failed] = ws.labeling.status("two")["auto_rounds"]
    assert failed["human_labels"] == 10
    assert failed["error"] == "ValueError: the model could not be trained"


def test_a_round_says_when_no_threshold_meets_the_target(ws):
    rows = ROWS.assign(truth=np.random.default_rng(1).choice(["big", "small"], 400))
    rows.loc[:10, "size"] = np.nan  # missing numbers among the shown columns
    ws.data.ingest(rows, name="noise")
    spec = {"data": "noise", "task": "classification", "labels": ["big", "small"]}
    ws.labeling.create("noise", **spec, columns=["size", "colour"])
    answer_truthfully(ws, "noise", rows, 30)
    round_ = ws.labeling.auto_label("noise", min_labels=20, target_accuracy=0.95)
    assert round_["threshold"] is None and round_["labeled"] == 0
    assert "nothing was labelled automatically" in round_["note"]


def test_a_column_of_text_and_numbers_is_learnt_from():
    # A review job's items come from JSON requests: one column can hold "7" and 7.
    from kiln.labeling._auto import fit_round

    shown = pd.DataFrame({"size": SIZE, "plan": [("basic" if i % 3 else i) for i in range(400)]})
    y = ROWS["truth"].to_numpy()
    result = fit_round(
        shown[:300], y[:300], shown[300:], media="row", content=None, target_accuracy=0.9
    )
    assert len(result["predicted"]) == 100 and result["threshold"] is not None


def test_an_item_answered_while_a_round_trains_keeps_its_human_answer(ws, monkeypatch):
    # Before: the round labelled every item that was nobody's when it started, overwriting an
    # answer given while it trained: the item became "automatic" and consolidation skipped it.
    from kiln.labeling import _auto

    ws.data.ingest(ROWS, name="shapes")
    ws.labeling.create(
        "sizes",
        data="shapes",
        task="classification",
        labels=["big", "small"],
        columns=["size", "colour"],
    )
    answer_truthfully(ws, "sizes", ROWS, 30)
    fit = _auto.fit_round
    meanwhile = []

    def answer_while_training(*args, **kwargs):
        result = fit(*args, **kwargs)
        result["confidence"][:] = 1.0  # the round would label every candidate
        item = ws.labeling.next_item("sizes", "bob")
        ws.labeling.answer("sizes", item.item, "bob", ROWS["truth"].iat[int(item.item)])
        meanwhile.append(item.item)
        return result

    monkeypatch.setattr(_auto, "fit_round", answer_while_training)
    monkeypatch.setattr(_auto, "maybe_start_round", lambda *args: None)  # no background round
    round_ = ws.labeling.auto_label("sizes", min_labels=20, target_accuracy=0.9)
    [late] = [i for i in ws.labeling.items("sizes", limit=500).items if i.item == meanwhile[0]]
    assert late.status == "answered" and late.method is None  # for the next consolidation
    assert round_["labeled"] == ws.labeling.status("sizes")["by_method"]["automatic"]
