"""``kiln label``: a whole job from a terminal, and its bad input."""

from __future__ import annotations

import json

import pandas as pd

REVIEWS = pd.DataFrame(
    {
        "review_id": ["r1", "r2", "r3"],
        "text": ["great value", "broke in a day", "love it"],
    }
)
TRUTH = {"r1": "pos", "r2": "neg", "r3": "pos"}


def test_a_job_from_create_to_export_on_the_command_line(ws, run_cli, tmp_path):
    home = ws.home
    ws.data.ingest(REVIEWS, name="reviews")
    guide = tmp_path / "guide.md"
    guide.write_text("Is the customer happy?")
    created = run_cli(
        "label", "create", "sentiment", "--data", "reviews", "--labels", "pos,neg",
        "--content", "text", "--id-column", "review_id", "--annotators-per-item", "2",
        "--instructions", str(guide), home=home, check=True,
    )  # fmt: skip
    assert "Created labelling job sentiment" in created.stdout
    for annotator in ("ann", "bob"):
        while True:
            shown = run_cli("label", "next", "sentiment", "--as", annotator, "--json", home=home)
            item = json.loads(shown.stdout)
            if item is None:
                break
            answer = TRUTH[item["item"]] if annotator == "ann" or item["item"] != "r3" else "neg"
            run_cli(
                "label", "answer", "sentiment", item["item"], answer, "--as", annotator,
                home=home, check=True,
            )  # fmt: skip
    consolidated = run_cli(
        "label", "consolidate", "sentiment", "--method", "majority", home=home, check=True
    )
    assert "Labelled 3 item(s) by majority" in consolidated.stdout
    status = json.loads(run_cli("label", "status", "sentiment", "--json", home=home).stdout)
    assert status["human_answers"] == 6 and status["labeled"] == 3
    assert [a["accuracy"] for a in status["annotators"]] == [1.0, 2 / 3]
    shown = run_cli("label", "status", "sentiment", home=home, check=True).stdout
    assert "Krippendorff's alpha" in shown and "6 human answers" in shown
    # Before: the full export (with label_confidence, label_method and label_annotators, which
    # say how each label was made) was offered for training as it was: leaky features.
    exported = run_cli("label", "export", "sentiment", home=home, check=True).stdout
    assert "kiln train" not in exported and "--label-only" in exported
    exported = run_cli(
        "label", "export", "sentiment", "--label-only", "--dataset", "train", home=home, check=True
    ).stdout
    assert "kiln train --data train:1 --target label --algorithm linear" in exported
    listed = run_cli("label", "list", home=home, check=True).stdout
    assert "sentiment" in listed and "3/3" in listed


def test_bad_input_on_the_command_line_gets_its_code(ws, run_cli, tmp_path):
    home = ws.home
    ws.data.ingest(REVIEWS, name="reviews")
    missing = run_cli(
        "label", "create", "job", "--data", "reviews", "--labels", "a,b", "--content", "body",
        home=home,
    )  # fmt: skip
    assert missing.returncode != 0 and "body" in missing.stderr
    no_guide = run_cli(
        "label", "create", "job", "--data", "reviews", "--labels", "a,b",
        "--instructions", str(tmp_path / "none.md"), home=home,
    )  # fmt: skip
    assert no_guide.returncode != 0 and "none.md: no such file" in no_guide.stderr
    run_cli(
        "label", "create", "spans", "--data", "reviews", "--task", "text-spans",
        "--labels", "product", "--content", "text", "--id-column", "review_id", home=home,
        check=True,
    )  # fmt: skip
    item = json.loads(run_cli("label", "next", "spans", "--as", "ann", "--json", home=home).stdout)
    bad = run_cli("label", "answer", "spans", item["item"], "0-5", "--as", "ann", home=home)
    assert bad.returncode != 0 and "is not JSON" in bad.stderr
    outside = run_cli(
        "label", "answer", "spans", item["item"], '[{"start": 0, "end": 99, "label": "product"}]',
        "--as", "ann", home=home,
    )  # fmt: skip
    assert outside.returncode != 0 and "not inside the text" in outside.stderr
    nothing = run_cli("label", "export", "spans", home=home)
    assert nothing.returncode != 0 and "no labelled items" in nothing.stderr
