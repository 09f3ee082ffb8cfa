"""Studio's labelling API against a real server: an annotator's open jobs, the next item and its
answer (each refusal with its status), the image of an image item and nothing else, and what an
annotator may not see."""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import pytest

TEXTS = pd.DataFrame({"text": ["great value", "broke in a day", "fine I guess"]})
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def ws(ws, tmp_path):
    """Jobs 'sentiment' (text, two annotators an item), 'photos' (boxes on two images: a file
    and a URL) and 'done' (closed)."""
    ws.data.ingest(TEXTS, name="reviews")
    ws.labeling.create(
        "sentiment",
        data="reviews",
        task="classification",
        labels=["pos", "neg"],
        content="text",
        annotators_per_item=2,
        instructions="Is the review happy?",
    )
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for annotators")
    ws.data.ingest(
        pd.DataFrame({"image": [str(image), "https://example.org/dog.png"]}), name="photos"
    )
    ws.labeling.create(
        "photos", data="photos", task="bounding-boxes", labels=["cat", "dog"], content="image"
    )
    ws.labeling.create("done", data="reviews", task="classification", labels=["a", "b"])
    with ws.store.write() as session:
        from kiln.store import LabelingJobRow

        session.query(LabelingJobRow).filter_by(name="done").update({"status": "Completed"})
    return ws


def test_an_annotator_answers_items_one_at_a_time_and_is_told_when_none_is_left(api_as, ws):
    annotator = api_as("annotator")
    jobs = annotator.get("/labeling/").json()
    assert sorted(j["name"] for j in jobs["items"]) == ["photos", "sentiment"]  # open jobs only
    assert jobs["total"] == 2 and jobs["items"][0]["progress"]["items"] >= 2
    assert api_as("viewer").get("/labeling/").json()["total"] == 3
    bad = annotator.get("/labeling/", params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["error"] == "page.bad-limit"
    given = annotator.post("/labeling/sentiment/next").json()
    assert given["job"]["instructions"] == "Is the review happy?"
    assert given["job"]["labels"] == ["pos", "neg"] and given["job"]["media"] == "text"
    assert given["item"]["payload"] == {"text": "great value"}
    again = annotator.post("/labeling/sentiment/next").json()
    assert again["item"]["item"] == given["item"]["item"]  # a reload shows the same item
    for _ in range(3):
        item = annotator.post("/labeling/sentiment/next").json()["item"]["item"]
        answered = annotator.post(
            f"/labeling/sentiment/items/{item}/answer", json={"answer": "pos", "seconds": 2.5}
        )
        assert answered.status_code == 200 and answered.json()["answer"] == "pos"
    nothing = annotator.post("/labeling/sentiment/next")
    assert nothing.status_code == 204 and nothing.content == b""
    status = annotator.get("/labeling/sentiment").json()["status"]
    assert status["human_answers"] == 3 and status["human_seconds"] == 7.5
    assert "annotators" not in status  # not the others' work
    full = api_as("viewer").get("/labeling/sentiment").json()["status"]
    assert full["annotators"] == [
        {"name": "annotator", "answers": 3, "seconds": 7.5, "accuracy": None}
    ]
    [event] = ws.audit.page(action="labeling.answer", limit=1).items
    assert event.outcome == "ok" and event.target == "sentiment/2"


def test_two_annotators_are_never_given_an_item_beyond_its_count(api_as, ws):
    ws.users.add("second", role="annotator", password="second-password")
    second = api_as("annotator")
    second.headers["authorization"] = f"Bearer {ws.users.create_token('second').token}"
    first = api_as("annotator")
    viewer = api_as("viewer")
    seen = []
    for client in (first, second, viewer, first, second, viewer):
        answer = client.post("/labeling/sentiment/next")
        if answer.status_code == 204:
            continue
        item = answer.json()["item"]["item"]
        seen.append(item)
        client.post(f"/labeling/sentiment/items/{item}/answer", json={"answer": "neg"})
    counts = pd.Series(seen).value_counts()
    assert counts.max() == 2 and len(seen) == 6  # three items, two answers each


def test_bad_answers_get_their_4xx(api_as, ws):
    annotator = api_as("annotator")
    item = annotator.post("/labeling/sentiment/next").json()["item"]["item"]
    outside = annotator.post(f"/labeling/sentiment/items/{item}/answer", json={"answer": "meh"})
    assert outside.status_code == 422 and outside.json()["error"] == "labeling.unknown-label"
    assert "pos, neg" in outside.json()["detail"]
    assert annotator.post(
        f"/labeling/sentiment/items/{item}/answer", json={"answer": "pos"}
    ).is_success
    twice = annotator.post(f"/labeling/sentiment/items/{item}/answer", json={"answer": "pos"})
    assert twice.status_code == 409 and twice.json()["error"] == "labeling.answered-twice"
    negative = annotator.post(
        f"/labeling/sentiment/items/{item}/answer", json={"answer": "pos", "seconds": -1}
    )
    assert negative.status_code == 422 and negative.json()["error"] == "request.invalid"
    not_given = annotator.post("/labeling/sentiment/items/2/answer", json={"answer": "pos"})
    assert not_given.status_code == 409 and not_given.json()["error"] == "labeling.not-assigned"
    unknown = annotator.post("/labeling/nope/next")
    assert unknown.status_code == 404 and unknown.json()["error"] == "labeling.unknown-job"
    closed = annotator.post("/labeling/done/next")
    assert closed.status_code == 409 and closed.json()["error"] == "labeling.closed"
    shape = annotator.post("/labeling/photos/next").json()["item"]["item"]
    boxes = annotator.post(f"/labeling/photos/items/{shape}/answer", json={"answer": "cat"})
    assert boxes.status_code == 422 and boxes.json()["error"] == "labeling.bad-answer"
    failed = ws.audit.page(action="labeling.answer", outcome="failed").items
    assert {e.detail["error"] for e in failed} >= {"labeling.unknown-label"}


def test_an_annotator_sees_only_the_labelling_api_and_never_the_items_table(api_as, ws):
    annotator = api_as("annotator")
    for path in ("/data", "/models", "/endpoints", "/jobs"):
        refused = annotator.get(path)
        assert refused.status_code == 403 and refused.json()["role_needed"] == "viewer"
    items = annotator.get("/labeling/sentiment/items")
    assert items.status_code == 403 and items.json()["role_needed"] == "viewer"
    page = api_as("viewer").get("/labeling/sentiment/items", params={"limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert page["items"][0]["payload"] == {"text": "great value"}


def test_an_annotator_never_sees_the_others_accuracy_after_consolidation(api_as, ws):
    for name in ("alice", "bob"):
        for _ in range(3):
            item = ws.labeling.next_item("sentiment", name).item
            ws.labeling.answer("sentiment", item, name, "pos" if name == "alice" else "neg")
    ws.labeling.consolidate("sentiment")
    annotator = api_as("annotator")
    for shown in (annotator.get("/labeling/sentiment").json(), annotator.get("/labeling/").json()):
        assert "alice" not in str(shown) and "accuracy" not in str(shown)
    assert annotator.get("/labeling/sentiment").json()["status"]["labeled"] == 3
    assert "alice" in str(api_as("viewer").get("/labeling/sentiment").json()["status"])


def test_an_image_item_serves_its_own_file_and_nothing_else(api_as, ws, tmp_path):
    annotator = api_as("annotator")
    first = annotator.post("/labeling/photos/next").json()
    assert first["job"]["media"] == "image" and first["item"]["image"]["external"] is False
    image = annotator.get(first["item"]["image"]["url"].removeprefix("/api"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == PNG
    # Before: any item's image, by number, given to the annotator or not.
    not_given = annotator.get("/labeling/photos/items/1/image")
    assert not_given.status_code == 409 and not_given.json()["error"] == "labeling.not-assigned"
    assert api_as("viewer").get("/labeling/photos/items/0/image").content == PNG
    box = [{"x": 0, "y": 0, "width": 1, "height": 1, "label": "cat"}]
    assert annotator.post("/labeling/photos/items/0/answer", json={"answer": box}).is_success
    assert annotator.post("/labeling/photos/next").json()["item"]["image"]["external"] is True
    external = annotator.get("/labeling/photos/items/1/image")
    assert external.status_code == 409 and external.json()["error"] == "labeling.external-image"
    for probe in ("../secret.txt", str(tmp_path / "secret.txt"), "7"):
        refused = annotator.get(f"/labeling/photos/items/{probe}/image")
        assert refused.status_code == 404, probe
        assert "not for annotators" not in refused.text
    text_job = annotator.get("/labeling/sentiment/items/0/image")
    assert text_job.status_code == 404 and text_job.json()["error"] == "labeling.no-image"


def test_an_item_id_with_a_slash_can_be_answered(api_as, ws):
    # Before: the answer route took no '/' in an item id (a path as the id column), so such an
    # item 404ed and, handed out again at every 'next', blocked its annotator for good.
    frame = pd.DataFrame({"path": ["docs/a.txt", "docs/b%2F.txt"], "text": ["x", "y"]})
    ws.data.ingest(frame, name="files")
    ws.labeling.create(
        "files", data="files", task="classification", labels=["pos", "neg"], id_column="path"
    )
    annotator = api_as("annotator")
    for expected in ("docs/a.txt", "docs/b%2F.txt"):
        item = annotator.post("/labeling/files/next").json()["item"]["item"]
        assert item == expected
        answered = annotator.post(
            f"/labeling/files/items/{quote(item, safe='')}/answer", json={"answer": "pos"}
        )
        assert answered.status_code == 200 and answered.json()["item"] == item
    assert annotator.post("/labeling/files/next").status_code == 204


def test_an_annotator_sees_an_open_job_behind_fifty_newer_closed_ones(api_as, ws):
    # Before: the open jobs were picked from the newest 50 only (and ws.labeling.list()
    # returned those 50 alone), so an older open job left every annotator's list.
    for number in range(50):
        ws.labeling.create(f"old{number}", data="reviews", task="classification", labels=["a", "b"])
        ws.labeling.stop(f"old{number}")
    assert len(ws.labeling.list()) == 53
    listed = api_as("annotator").get("/labeling/", params={"limit": 1, "sort": "-created_at"})
    assert listed.json()["total"] == 2 and listed.json()["items"][0]["name"] == "photos"


def test_a_review_jobs_page_outlives_its_deleted_endpoint(api_as, ws):
    # Before: 404 "No endpoint named ..." for the job itself once its endpoint was deleted.
    from kiln.labeling._jobs import create_job

    create_job(
        ws,
        "gone-review",
        data=None,
        task="classification",
        labels=["no", "yes"],
        columns=["tenure"],
        kind="review",
        endpoint="gone",
    )
    shown = api_as("viewer").get("/labeling/gone-review")
    assert shown.status_code == 200 and shown.json()["review"] is None
