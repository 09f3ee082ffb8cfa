import pandas as pd
import pytest
from tests.helpers import ON_BOTH_STORES

from kiln.errors import ConfigError, StateError

REVIEWS = pd.DataFrame(
    {
        "review_id": ["r1", "r2", "r3", "r4"],
        "text": ["great value", "broke in a day", "fine I guess", "love it"],
        "label": ["old1", "old2", "old3", "old4"],  # a column named like an output column
    }
)
TRUTH = {"r1": "pos", "r2": "neg", "r3": "neg", "r4": "pos"}


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


def label_all(ws, job, answerers):
    """Each annotator answers every item they are given with ``answerers[name](item)``."""
    for name, answer in answerers.items():
        while (item := ws.labeling.next_item(job, name)) is not None:
            ws.labeling.answer(job, item.item, name, answer(item))


def right(item):
    return TRUTH[item.item]


def wrong_on_r3(item):
    return "pos" if item.item == "r3" else TRUTH[item.item]


@pytest.fixture()
def consolidated(reviews):
    make(reviews, annotators_per_item=3)
    label_all(reviews, "sentiment", {"ann": right, "bob": right, "cat": wrong_on_r3})
    record = reviews.labeling.consolidate("sentiment", method="majority")
    return reviews, record


@ON_BOTH_STORES
def test_consolidation_labels_every_answered_item_and_reports_agreement(consolidated):
    ws, record = consolidated
    items = {i.item: i for i in ws.labeling.items("sentiment").items}
    assert {i: item.label["value"] for i, item in items.items()} == TRUTH
    assert {item.method for item in items.values()} == {"consolidated"}
    assert items["r3"].confidence == pytest.approx(2 / 3) and items["r1"].confidence == 1.0
    assert record["accuracy"] == {"ann": 1.0, "bob": 1.0, "cat": 0.75}
    status = ws.labeling.status("sentiment")
    # Fleiss' kappa of the table [[3,0],[0,3],[1,2],[3,0]] by hand: P = 5/6, Pe = 74/144.
    assert status["agreement"]["fleiss_kappa"] == pytest.approx(23 / 35, abs=1e-6)
    # Krippendorff's nominal alpha by hand: 12 values (7 pos, 5 neg); item r3 puts one
    # coincidence in pos-neg: 1 - (12 - 1) * 1 / (7 * 5) = 24/35.
    assert status["agreement"]["krippendorff_alpha"] == pytest.approx(24 / 35, abs=1e-6)
    assert [a["accuracy"] for a in status["annotators"]] == [1.0, 1.0, 0.75]
    assert status["labeled"] == 4 and status["by_method"]["consolidated"] == 4


def test_a_single_annotator_is_a_flagged_majority_of_one(reviews):
    make(reviews)
    label_all(reviews, "sentiment", {"ann": right})
    record = reviews.labeling.consolidate("sentiment")
    assert record["single_annotator_items"] == 4
    assert "majority of one" in record["agreement"]["note"]
    status = reviews.labeling.status("sentiment")
    assert status["by_method"]["human"] == 4
    assert status["agreement"]["fleiss_kappa"] is None
    assert status["annotators"][0]["accuracy"] is None


def test_an_unknown_consolidation_method_is_refused(reviews):
    make(reviews)
    with pytest.raises(ConfigError) as caught:
        reviews.labeling.consolidate("sentiment", method="vote")
    assert caught.value.code == "labeling.bad-method"


def test_the_export_is_a_data_set_version_with_lineage_and_renamed_clashes(consolidated):
    ws, _ = consolidated
    version = ws.labeling.export("sentiment")
    frame = ws.data.load(version)
    assert list(frame.columns) == [
        "review_id",
        "text",
        "label_input",
        "label",
        "label_confidence",
        "label_method",
        "label_annotators",
    ]
    assert dict(zip(frame["review_id"], frame["label"], strict=True)) == TRUTH
    assert frame["label_input"].tolist() == ["old1", "old2", "old3", "old4"]
    assert set(frame["label_annotators"]) == {3}
    assert ws.labeling.get("sentiment").output == version.id
    source = ws.data.get("reviews")
    upstream = ws.lineage.graph(f"data:{version.ref}").upstream(f"dataset_version:{version.id}")
    assert any(node.key == f"dataset_version:{source.id}" for node, _ in upstream)
    training = ws.data.load(ws.labeling.export("sentiment", dataset="train", label_only=True))
    assert list(training.columns) == ["review_id", "text", "label_input", "label"]


def test_an_export_never_becomes_a_version_of_another_jobs_data_set(reviews):
    # Before: jobs whose names default to the same data set name ("a-b" and "a_b" both to
    # "a_b_labels") put the second's labels in a new version of the first's data set.
    for job in ("a-b", "a_b"):
        make(reviews, job)
        label_all(reviews, job, {"ann": right})
        reviews.labeling.consolidate(job)
    first = reviews.labeling.export("a-b")
    assert reviews.labeling.export("a-b").id == first.id  # its own: exported again
    with pytest.raises(StateError) as caught:
        reviews.labeling.export("a_b")
    assert caught.value.code == "labeling.output-taken"
    assert "'a_b_labels'" in str(caught.value) and "--dataset" in str(caught.value)
    assert reviews.data.get("a_b_labels").id == first.id
    assert reviews.labeling.export("a_b", dataset="other").name == "other"
    reviews.labeling.complete("a_b")  # exports again where it exported before
    assert reviews.data.get("other").id == reviews.labeling.get("a_b").output


def test_exporting_with_nothing_labelled_is_refused(reviews):
    make(reviews)
    with pytest.raises(StateError) as caught:
        reviews.labeling.export("sentiment")
    assert caught.value.code == "labeling.nothing-labeled"


def test_verification_records_corrections_and_exports_the_corrected_labels(reviews):
    make(reviews)
    label_all(reviews, "sentiment", {"ann": wrong_on_r3})
    reviews.labeling.consolidate("sentiment")
    job = reviews.labeling.verify("check", from_job="sentiment")
    assert (job.kind, job.parent, job.dataset) == ("verification", "sentiment", "reviews")
    items = reviews.labeling.items("check").items
    assert {i.item: i.prior["value"] for i in items}["r3"] == "pos"
    label_all(reviews, "check", {"bob": right})
    record = reviews.labeling.consolidate("check")
    assert record["corrections"] == {"count": 1, "items": ["r3"], "share": 0.25}
    frame = reviews.data.load(reviews.labeling.export("check"))
    assert dict(zip(frame["review_id"], frame["label"], strict=True)) == TRUTH


def test_only_labelled_classification_jobs_can_be_verified(reviews):
    make(reviews)
    with pytest.raises(StateError) as early:
        reviews.labeling.verify("check", from_job="sentiment")
    assert early.value.code == "labeling.nothing-labeled"
    make(reviews, "spans", task="text-spans", labels=["product"])
    with pytest.raises(ConfigError) as spans:
        reviews.labeling.verify("check", from_job="spans")
    assert spans.value.code == "labeling.cannot-verify"
    assert [j.name for j in reviews.labeling.list()] == ["spans", "sentiment"]


def test_a_chained_job_labels_the_earlier_jobs_output(consolidated):
    ws, _ = consolidated
    job = ws.labeling.create(
        "strength",
        from_job="sentiment",
        task="classification",
        labels=["mild", "strong"],
        content="text",
        id_column="review_id",
    )
    assert job.parent == "sentiment"
    assert job.dataset == "sentiment_labels"
    assert len(ws.labeling.items("strength").items) == 4
    with pytest.raises(ConfigError) as caught:
        ws.labeling.create(
            "both", data="reviews", from_job="sentiment", task="classification", labels=["a", "b"]
        )
    assert caught.value.code == "labeling.data-needed"


def test_completing_exports_and_closes_and_a_stopped_job_takes_no_answers(consolidated):
    ws, _ = consolidated
    done = ws.labeling.complete("sentiment")
    assert done.status == "Completed" and done.output is not None
    with pytest.raises(StateError) as caught:
        ws.labeling.stop("sentiment")
    assert caught.value.code == "labeling.closed"
    make(ws, "other")
    item = ws.labeling.next_item("other", "ann")
    assert ws.labeling.stop("other").status == "Stopped"
    with pytest.raises(StateError) as closed:
        ws.labeling.answer("other", item.item, "ann", "pos")
    assert closed.value.code == "labeling.closed"


def test_an_answer_arriving_during_consolidation_waits_for_the_next_one(reviews, monkeypatch):
    # Before: the answers were read before the items whose answers are all in, so an item
    # completed in between was labelled from its first answer alone, as one person's ("human").
    from kiln.labeling import _workflow

    make(reviews, annotators_per_item=2)
    for name in ("ann", "bob"):
        reviews.labeling.answer(
            "sentiment", reviews.labeling.next_item("sentiment", name).item, name, "pos"
        )
    reviews.labeling.answer(
        "sentiment", reviews.labeling.next_item("sentiment", "ann").item, "ann", "neg"
    )
    late = reviews.labeling.next_item("sentiment", "bob").item
    read = _workflow.answers_frame

    def answer_meanwhile(ctx, name):
        frame = read(ctx, name)
        reviews.labeling.answer("sentiment", late, "bob", "neg")
        return frame

    monkeypatch.setattr(_workflow, "answers_frame", answer_meanwhile)
    record = reviews.labeling.consolidate("sentiment")
    assert record["items"] == 1 and record["single_annotator_items"] == 0
    monkeypatch.setattr(_workflow, "answers_frame", read)
    reviews.labeling.consolidate("sentiment")
    [item] = [i for i in reviews.labeling.items("sentiment").items if i.item == late]
    assert item.method == "consolidated" and item.label == {"value": "neg"}
