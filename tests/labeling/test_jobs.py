from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import update
from tests.helpers import ON_BOTH_STORES

from kiln.errors import ConfigError, DataError, NotFound, StateError
from kiln.store import LabelingTaskRow, now

REVIEWS = pd.DataFrame(
    {
        "review_id": ["r1", "r2", "r3", "r4"],
        "text": ["great value", "broke in a day", "fine I guess", "love it"],
        "stars": [5, 1, 3, 5],
    }
)


@pytest.fixture()
def reviews(ws):
    ws.data.ingest(REVIEWS, name="reviews")
    return ws


def make(ws, name="sentiment", **options):
    spec = {
        "data": "reviews",
        "task": "classification",
        "labels": ["pos", "neg"],
        "content": "text",
        "id_column": "review_id",
        **options,
    }
    return ws.labeling.create(name, **spec)


def test_a_job_has_one_item_per_row_showing_the_content(reviews):
    job = make(reviews, annotators_per_item=2, instructions="Is the review happy?")
    assert (job.kind, job.task, job.media, job.status) == (
        "labeling",
        "classification",
        "text",
        "InProgress",
    )
    items = reviews.labeling.items("sentiment").items
    assert [i.item for i in items] == ["r1", "r2", "r3", "r4"]
    assert items[1].payload == {"text": "broke in a day"}
    assert reviews.labeling.get("sentiment").instructions == "Is the review happy?"


@ON_BOTH_STORES
def test_each_item_goes_to_annotators_who_have_not_seen_it_until_it_has_its_count(reviews):
    make(reviews, annotators_per_item=2)
    given = {name: [] for name in ("ann", "bob", "cat")}
    for _ in range(4):
        for name, seen in given.items():
            item = reviews.labeling.next_item("sentiment", name)
            if item is not None:
                seen.append(item.item)
                reviews.labeling.answer("sentiment", item.item, name, "pos")
    for seen in given.values():
        assert len(seen) == len(set(seen))  # nobody sees an item twice
    counts = pd.Series(sum(given.values(), [])).value_counts()
    assert counts.to_dict() == {"r1": 2, "r2": 2, "r3": 2, "r4": 2}
    statuses = {i.item: (i.status, i.answers) for i in reviews.labeling.items("sentiment").items}
    assert statuses == {i: ("answered", 2) for i in ("r1", "r2", "r3", "r4")}
    assert len(reviews.labeling.answers("sentiment")) == 8


def test_an_unanswered_item_comes_back_to_its_annotator_and_is_freed_after_the_lease(reviews):
    make(reviews, annotators_per_item=1)
    first = reviews.labeling.next_item("sentiment", "ann")
    assert reviews.labeling.next_item("sentiment", "ann").item == first.item  # a reload
    assert reviews.labeling.next_item("sentiment", "bob").item != first.item
    with reviews.store.write() as session:
        session.execute(
            update(LabelingTaskRow)
            .where(LabelingTaskRow.annotator == "ann")
            .values(assigned_at=LabelingTaskRow.assigned_at - timedelta(hours=1))
        )
    # ann's lapsed task no longer holds the item for others; bob has one pending already, so
    # cat gets it.
    assert reviews.labeling.next_item("sentiment", "cat").item == first.item


@pytest.mark.parametrize(
    ("value", "code"),
    [("meh", "labeling.unknown-label"), (["pos"], "labeling.unknown-label")],
)
def test_an_answer_outside_the_label_set_is_refused_and_nothing_is_counted(reviews, value, code):
    make(reviews)
    item = reviews.labeling.next_item("sentiment", "ann")
    with pytest.raises(DataError) as caught:
        reviews.labeling.answer("sentiment", item.item, "ann", value)
    assert caught.value.code == code
    assert "pos, neg" in str(caught.value)
    assert reviews.labeling.items("sentiment").items[0].answers == 0


def test_answering_twice_or_an_item_not_given_is_refused(reviews):
    make(reviews)
    item = reviews.labeling.next_item("sentiment", "ann")
    reviews.labeling.answer("sentiment", item.item, "ann", "neg", seconds=3.5)
    with pytest.raises(StateError) as twice:
        reviews.labeling.answer("sentiment", item.item, "ann", "pos")
    assert twice.value.code == "labeling.answered-twice"
    with pytest.raises(StateError) as stranger:
        reviews.labeling.answer("sentiment", "r4", "bob", "pos")
    assert stranger.value.code == "labeling.not-assigned"
    answers = reviews.labeling.answers("sentiment")
    assert answers[["item", "annotator", "answer", "seconds"]].values.tolist() == [
        [item.item, "ann", "neg", 3.5]
    ]


def test_spans_must_lie_inside_the_text_and_boxes_must_have_a_size(reviews):
    make(reviews, "spans", task="text-spans", labels=["product", "problem"])
    item = reviews.labeling.next_item("spans", "ann")  # r1: "great value" (11 characters)
    with pytest.raises(DataError, match="not inside the text"):
        reviews.labeling.answer(
            "spans", item.item, "ann", [{"start": 6, "end": 12, "label": "product"}]
        )
    task = reviews.labeling.answer(
        "spans", item.item, "ann", [{"start": 6, "end": 11, "label": "product"}]
    )
    assert task.answer == {"value": [{"start": 6, "end": 11, "label": "product"}]}

    from kiln.labeling import check_answer

    # Was cut to a whole character without a word: 0.5..3 stored as 0..3.
    with pytest.raises(DataError, match="whole character offsets"):
        check_answer("text-spans", ["a"], [{"start": 0.5, "end": 3, "label": "a"}], text="abcd")
    assert check_answer("text-spans", ["a"], [{"start": 1.0, "end": 3, "label": "a"}])[0] == {
        "start": 1,
        "end": 3,
        "label": "a",
    }

    with pytest.raises(DataError, match="empty size"):
        check_answer(
            "bounding-boxes", ["cat"], [{"x": 1, "y": 1, "width": 0, "height": 4, "label": "cat"}]
        )
    assert check_answer("multi-label", ["a", "b", "c"], ["c", "a"]) == ["a", "c"]


@pytest.mark.parametrize(
    ("options", "error", "code"),
    [
        ({"content": "body"}, DataError, "data.unknown-column"),
        ({"labels": ["pos"]}, ConfigError, "labeling.bad-labels"),
        ({"labels": ["pos", "pos"]}, ConfigError, "labeling.bad-labels"),
        ({"task": "text-spans", "content": None}, ConfigError, "labeling.content-needed"),
        ({"task": "sentiment"}, ConfigError, "labeling.bad-task"),
        ({"annotators_per_item": 0}, ConfigError, "labeling.bad-annotator-count"),
        ({"id_column": "stars"}, DataError, "labeling.bad-id-column"),
        ({"data": "nope"}, NotFound, "data.unknown-dataset"),
        # Were accepted: a string's characters as labels ("p", "o", "s", ","...), True as 1.
        ({"labels": "pos,neg"}, ConfigError, "labeling.bad-labels"),
        ({"annotators_per_item": True}, ConfigError, "labeling.bad-annotator-count"),
    ],
)
def test_a_bad_job_is_refused_naming_what_is_wrong_and_nothing_is_written(
    reviews, options, error, code
):
    with pytest.raises(error) as caught:
        make(reviews, **options)
    assert caught.value.code == code
    assert reviews.labeling.list() == []


def test_image_files_that_do_not_exist_are_refused_with_an_example(ws, tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    frame = pd.DataFrame({"image": [str(tmp_path / "a.png"), str(tmp_path / "gone.png")]})
    ws.data.ingest(frame, name="photos")
    with pytest.raises(DataError) as caught:
        ws.labeling.create(
            "boxes", data="photos", task="bounding-boxes", labels=["cat"], content="image"
        )
    assert caught.value.code == "labeling.missing-files"
    assert "gone.png" in str(caught.value) and "1 of the 2" in str(caught.value)


def test_a_name_is_used_once(reviews):
    make(reviews)
    with pytest.raises(StateError) as caught:
        make(reviews)
    assert caught.value.code == "labeling.name-taken"
    assert [j.name for j in reviews.labeling.list()] == ["sentiment"]


def test_a_job_without_data_takes_items_as_they_come_once_each(ws):
    from kiln.labeling._jobs import create_job

    create_job(
        ws,
        "review",
        data=None,
        kind="review",
        task="classification",
        labels=["yes", "no"],
        columns=["tenure", "plan"],
    )
    added = ws.labeling.add_items(
        "review",
        [
            {"item": "inf-1", "payload": {"tenure": 3, "plan": "basic", "x": 1}, "prior": "no"},
            {"item": "inf-2", "payload": {"tenure": 9, "plan": "pro"}},
        ],
    )
    assert added == 2
    assert ws.labeling.add_items("review", [{"item": "inf-1", "payload": {}}]) == 0
    items = ws.labeling.items("review").items
    assert [(i.item, i.position, i.payload, i.prior) for i in items] == [
        ("inf-1", 0, {"tenure": 3, "plan": "basic"}, {"value": "no"}),
        ("inf-2", 1, {"tenure": 9, "plan": "pro"}, None),
    ]
    item = ws.labeling.next_item("review", "ann")
    ws.labeling.answer("review", item.item, "ann", "yes", seconds=2.0)
    status = ws.labeling.status("review")
    assert (status["items"], status["open"], status["answered"], status["human_answers"]) == (
        2,
        1,
        1,
        1,
    )
    assert status["annotators"] == [{"name": "ann", "answers": 1, "seconds": 2.0, "accuracy": None}]


def test_items_of_an_unknown_status_are_refused_not_an_empty_page(reviews):
    make(reviews)
    with pytest.raises(ConfigError) as caught:
        reviews.labeling.items("sentiment", status="done")
    assert caught.value.code == "labeling.bad-status"
    assert "open, answered, labeled" in str(caught.value)


def test_a_lapsed_task_whose_item_was_answered_by_others_does_not_come_back(reviews):
    make(reviews, annotators_per_item=1)
    first = reviews.labeling.next_item("sentiment", "ann")
    with reviews.store.write() as session:
        session.execute(update(LabelingTaskRow).values(assigned_at=now() - timedelta(hours=1)))
    taken = reviews.labeling.next_item("sentiment", "bob")
    assert taken.item == first.item
    reviews.labeling.answer("sentiment", taken.item, "bob", "pos")
    assert reviews.labeling.next_item("sentiment", "ann").item != first.item
    with pytest.raises(StateError) as caught:
        reviews.labeling.answer("sentiment", first.item, "ann", "neg")
    assert caught.value.code == "labeling.item-complete"
    assert "not answered within 10 minutes" in str(caught.value)
    assert reviews.labeling.items("sentiment").items[0].answers == 1
