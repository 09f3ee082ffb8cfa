"""Studio's labelling pages in Chromium: an annotator answers with the keyboard until nothing is
left, marks a text span and draws a box with the mouse; the job page shows progress, agreement
when the status has it, and the items."""

from __future__ import annotations

import struct
import zlib

import pandas as pd
import pytest

TEXTS = pd.DataFrame({"text": ["great value for money", "broke in a day", "fine I guess"]})


def png(width: int, height: int) -> bytes:
    """A grey PNG of this size (written here: no imaging library is a kiln dependency)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x90" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def ws(ws):
    ws.data.ingest(TEXTS, name="reviews")
    ws.labeling.create(
        "sentiment",
        data="reviews",
        task="classification",
        labels=["pos", "neg", "mixed"],
        content="text",
        instructions="Is the review happy?",
    )
    return ws


def test_an_annotator_labels_with_the_keyboard_until_nothing_is_left(page, ws):
    page.sign_in("annotator", "/labeling")
    page.wait_for_selector("#labeling-jobs a:text-is('sentiment')")
    visible = [a for a in page.locator("nav.side a").all() if a.is_visible()]
    assert [a.inner_text() for a in visible] == ["Labelling"]
    assert page.locator("#search-form").is_hidden()
    page.screenshot_as("annotator-jobs")
    page.click("#labeling-jobs a.annotate")
    page.wait_for_selector("#label-instructions:has-text('Is the review happy?')")
    page.wait_for_selector("#label-text:has-text('great value')")
    page.screenshot_as("annotate")
    for key in ("1", "2", "3"):
        shown = page.inner_text("#label-position")
        page.keyboard.press(key)
        page.wait_for_selector(".label-choice.chosen")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "shown => !document.querySelector('#label-position') || "
            "document.querySelector('#label-position').textContent !== shown",
            arg=shown,
        )
    page.wait_for_selector("#label-done:has-text('Nothing left')")
    page.screenshot_as("nothing-left")
    answers = ws.labeling.answers("sentiment").sort_values("item")
    assert answers["answer"].tolist() == ["pos", "neg", "mixed"]
    assert (answers["annotator"] == "annotator").all() and (answers["seconds"] > 0).all()
    page.open("/overview-of-models")  # anywhere else sends an annotator back to labelling
    page.wait_for_selector("#labeling-jobs")
    page.assert_no_errors()


def test_the_job_page_shows_progress_agreement_and_the_items(page, ws):
    for item, label in (("0", "pos"), ("1", "neg")):
        assert ws.labeling.next_item("sentiment", "ann").item == item
        ws.labeling.answer("sentiment", item, "ann", label, seconds=3)
    page.sign_in("viewer", "/labeling/sentiment")
    page.wait_for_selector("#labeling-progress .label-progress")
    assert "2 answered · 1 open, of 3" in page.inner_text("#labeling-progress")
    assert "2 human answers, 6 s" in page.inner_text("#labeling-progress")
    assert "Not consolidated yet" in page.inner_text("#labeling-agreement")
    page.wait_for_selector("#labeling-items tbody tr:nth-child(3)")
    assert "great value" in page.inner_text("#labeling-items")
    ws.labeling.consolidate("sentiment")  # one annotator: a majority of one, flagged
    page.reload()
    page.wait_for_selector("#labeling-annotators")
    assert "Not consolidated yet" not in page.inner_text("#labeling-agreement")
    assert "a majority of one" in page.inner_text("#labeling-agreement")
    page.screenshot_as("job")
    page.assert_no_errors()


def test_an_annotator_marks_a_span_with_the_mouse(page, ws):
    ws.labeling.create(
        "entities", data="reviews", task="text-spans", labels=["thing", "time"], content="text"
    )
    page.sign_in("annotator", "/labeling/entities/annotate")
    text = page.wait_for_selector("#label-text:has-text('great value')")
    page.keyboard.press("2")
    box = text.bounding_box()
    page.mouse.move(box["x"] + 14, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_selector("#label-parts li .badge:text-is('time')")
    page.wait_for_selector("#label-text mark")
    page.screenshot_as("span")
    page.click("#label-submit")
    page.wait_for_selector("#label-text:has-text('broke in a day')")
    [answer] = ws.labeling.answers("entities")["answer"]
    [span] = answer
    assert span["label"] == "time" and 0 <= span["start"] < span["end"] <= len(TEXTS.text[0])
    page.assert_no_errors()


def test_an_annotator_draws_a_box_with_the_mouse(page, ws, tmp_path):
    image = tmp_path / "shelf.png"
    image.write_bytes(png(400, 200))
    ws.data.ingest(pd.DataFrame({"image": [str(image)]}), name="shelves")
    ws.labeling.create(
        "boxes", data="shelves", task="bounding-boxes", labels=["can", "box"], content="image"
    )
    page.sign_in("annotator", "/labeling/boxes/annotate")
    page.wait_for_function(
        "() => document.querySelector('#label-image') && "
        "document.querySelector('#label-image').naturalWidth === 400"
    )
    box = page.locator("#label-image").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 90, steps=5)
    page.mouse.up()
    page.wait_for_selector("#label-canvas .label-box span:text-is('can')")
    page.screenshot_as("box")
    page.keyboard.press("Enter")
    page.wait_for_selector("#label-done")
    [answer] = ws.labeling.answers("boxes")["answer"]
    [drawn] = answer
    scale = 400 / box["width"]
    assert drawn["label"] == "can"
    assert drawn["x"] == pytest.approx(40 * scale, abs=2 * scale)
    assert drawn["width"] == pytest.approx(100 * scale, abs=2 * scale)
    page.assert_no_errors()


def test_an_annotator_ticks_several_labels_with_the_keyboard(page, ws):
    ws.labeling.create(
        "topics", data="reviews", task="multi-label", labels=["price", "quality", "delivery"]
    )
    page.sign_in("annotator", "/labeling/topics/annotate")
    page.wait_for_selector("#label-choices input[type=checkbox]")
    assert "great value for money" in page.inner_text("#label-task")  # the row's columns
    for key in ("1", "2", "2", "3"):  # 2 twice: ticked, then unticked
        page.keyboard.press(key)
    assert page.is_checked("#label-check-price") and not page.is_checked("#label-check-quality")
    page.screenshot_as("multi-label")
    page.keyboard.press("Enter")
    page.wait_for_selector("#label-task:has-text('broke in a day')")
    [answer] = ws.labeling.answers("topics")["answer"]
    assert answer == ["price", "delivery"]
    page.assert_no_errors()
