"""Human review of an endpoint's predictions, end to end with the served churn model: the
low-confidence rows enter the review job off the response path (the response unchanged), the
reviewers' labels become ground truth the capture joins and a data set version; the command,
bad conditions, a regression model, and review turned off."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from helpers import wait_for
from kiln.errors import ConfigError
from kiln.labeling import confidence_of
from kiln.serving import create_app
from kiln.serving._human_review import ReviewQueue


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(30).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


@pytest.fixture(scope="module")
def expected(trained, rows):
    """What the model predicts for ``rows`` (scored here, not by a server), and a threshold
    that sends about half of them to review."""
    ws, result = trained
    predictions = ws.models.load(result.model.ref).predictions(pd.DataFrame(rows))
    confidences = sorted(confidence_of(p) for p in predictions)
    return predictions, confidences[len(confidences) // 2]


def invoke(client, rows):
    response = client.post("/endpoints/churn/invocations", json={"instances": rows})
    assert response.status_code == 200, response.text
    return response


def test_low_confidence_predictions_are_reviewed_into_ground_truth_and_a_data_set(
    trained_copy, rows, expected
):
    ws, result = trained_copy
    predictions, threshold = expected
    ws.endpoints.set_capture("churn", 100)
    job = ws.labeling.start_review("churn", when=f"confidence < {threshold}")
    model = ws.models.get(result.model.ref)
    assert (job.name, job.kind, job.task, job.endpoint) == (
        "churn-review",
        "review",
        *(
            "classification",
            "churn",
        ),
    )
    assert job.labels == [str(c) for c in model.signature["outputs"]["labels"]]
    assert job.columns == [c["name"] for c in model.signature["inputs"]]
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        response = invoke(client, rows)
        body = response.json()
        assert set(body) == {"model", "variant", "inference_id", "predictions"}
        assert body["predictions"] == json.loads(json.dumps(predictions))  # unchanged
        low = [i for i, p in enumerate(predictions) if confidence_of(p) < threshold]
        assert 0 < len(low) < len(rows)
        client.app.state.review.flush()
        wanted = {f"{body['inference_id']}:{i}" for i in low}
        items = wait_for(
            lambda: ws.labeling.items("churn-review", limit=None).items, what="review items"
        )
    assert {i.item for i in items} == wanted  # the confident ones are not there
    first = items[0]
    row = int(first.item.split(":")[1])
    assert first.prior == {"value": predictions[row]["label"]}
    assert first.payload == {c: rows[row][c] for c in job.columns}
    # Reviewers answer: the model's label for all but the first, which they correct.
    truth = {}
    while (given := ws.labeling.next_item("churn-review", "rev")) is not None:
        label = given.prior["value"]
        if given.item == first.item:
            label = next(lab for lab in job.labels if lab != str(label))
        truth[given.item] = label
        ws.labeling.answer("churn-review", given.item, "rev", str(label))
    status = ws.labeling.status("churn-review")
    assert status["answered"] == len(low) and status["human_answers"] == len(low)
    captured = ws.data.capture("churn")
    labelled = captured[captured["label"].notna()]
    assert len(labelled) == len(low)  # the model-quality join sees every reviewed row
    assert sorted(labelled["row"].tolist()) == low
    version = ws.labeling.review_dataset("churn-review")
    assert version.name == "churn_review_reviewed"  # not export's churn_review_labels
    frame = ws.data.load(version)
    assert len(frame) == len(low) and list(frame.columns) == [*job.columns, "churn"]
    assert frame["churn"].map(str).tolist() == [str(truth[i.item]) for i in items]
    graph = ws.lineage.graph(f"data:{version.ref}", downstream=False, depth=1)
    assert [(n.kind, relation) for n, relation in graph.upstream(graph.root)] == [
        ("endpoint", "reviewed")
    ]


def test_a_sample_of_all_predictions_is_reviewed_too(trained_copy, rows):
    ws, _ = trained_copy
    ws.labeling.start_review("churn", when="confidence < 0", sample="100%")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        invoke(client, rows[:5])
        client.app.state.review.flush()
    assert ws.labeling.items("churn-review").total == 5


def test_review_turned_off_sends_nothing_and_keeps_the_job(trained_copy, rows, run_cli):
    ws, _ = trained_copy
    home = str(ws.home)
    on = run_cli(
        "--home",
        home,
        "endpoints",
        "human-review",
        "churn",
        "--when",
        "confidence <= 1",
        "--sample",
        "1%",
        "--json",
        check=True,
    )
    setting = json.loads(on.stdout)["human_review"]
    assert setting == {
        "job": "churn-review",
        "when": "confidence <= 1",
        "op": "<=",
        "threshold": 1.0,
        "sample_percent": 1.0,
    }
    off = run_cli("--home", home, "endpoints", "human-review", "churn", "--off", check=True)
    assert "no more predictions" in off.stdout
    assert "human_review" not in ws.endpoints.get("churn").config
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        invoke(client, rows[:5])
        client.app.state.review.flush()
    assert ws.labeling.items("churn-review").total == 0
    assert ws.labeling.get("churn-review").status == "InProgress"
    both = run_cli(
        "--home", home, "endpoints", "human-review", "churn", "--off", "--when", "confidence < 0.5"
    )
    assert both.returncode != 0 and "endpoints.off-with-settings" in both.stdout + both.stderr
    again = run_cli(
        "--home",
        home,
        "endpoints",
        "human-review",
        "churn",
        "--when",
        "confidence < 0.5",
        check=True,
    )
    assert "churn-review" in again.stdout  # the kept job is taken up again
    shown = run_cli("--home", home, "endpoints", "show", "churn", check=True)
    assert "confidence < 0.5 → job churn-review" in shown.stdout


@pytest.mark.parametrize(
    "when",
    ["confidence < 1.5", "conf < 0.5", "confidence << 0.5", "confidence < 0.5 or x", "", None],
)
def test_a_bad_condition_is_refused_naming_the_grammar(ws, when):
    with pytest.raises(ConfigError, match="confidence < X") as error:
        ws.labeling.start_review("churn", when=when)
    assert error.value.code == "review.bad-condition"


def test_a_bad_sample_is_refused(ws):
    with pytest.raises(ConfigError, match="percentage") as error:
        ws.labeling.start_review("churn", when="confidence < 0.6", sample="150%")
    assert error.value.code == "review.bad-sample"


def test_a_regression_model_is_refused_and_nothing_is_written(ws):
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [2.0 * i for i in range(40)]})
    ws.data.ingest(frame, name="line")
    trained = ws.train("line", target="y", algorithm="linear")
    ws.endpoints.deploy(trained.model.ref, endpoint="line", allow_unapproved=True)
    with pytest.raises(ConfigError, match="needs a classifier") as error:
        ws.labeling.start_review("line", when="confidence < 0.6")
    assert error.value.code == "review.not-a-classifier"
    assert ws.labeling.list() == [] and "human_review" not in ws.endpoints.get("line").config


def test_the_queue_is_bounded_and_counts_what_it_drops_or_cannot_add(trained_copy, rows):
    ws, _ = trained_copy
    ws.labeling.start_review("churn", when="confidence <= 1")
    config = ws.endpoints.get("churn").config
    predictions = ws.models.load(ws.endpoints.get("churn").model).predictions(
        pd.DataFrame(rows[:2])
    )
    review = ReviewQueue(ws, max_queue=1)
    body = json.dumps(rows[:2]).encode()
    offer = dict(endpoint="churn", body=body, content_type="application/json")
    assert review.offer(config=config, inference_id="a", predictions=predictions, **offer) == 2
    assert review.offer(config=config, inference_id="b", predictions=predictions, **offer) == 0
    counted = review.registry.get_sample_value
    assert counted("kiln_review_dropped_total", {"endpoint": "churn"}) == 1
    review.flush()
    assert [i.item for i in ws.labeling.items("churn-review").items] == ["a:0", "a:1"]
    gone = {"human_review": {**config["human_review"], "job": "no-such-job"}}
    review.offer(config=gone, inference_id="c", predictions=predictions, **offer)
    review.flush()
    assert counted("kiln_review_failures_total", {"endpoint": "churn"}) == 2
    assert counted("kiln_review_items_total", {"endpoint": "churn"}) == 2
    assert review.offer(config={}, inference_id="d", predictions=predictions, **offer) == 0


def test_predictions_of_classes_the_review_job_lacks_are_counted_not_queued_for_people(
    trained_copy, rows, caplog
):
    # Before: after the endpoint's model changed classes, its predictions kept entering the
    # old job, whose reviewers could only answer the old labels (the truth then never the new).
    ws, _ = trained_copy
    job = ws.labeling.start_review("churn", when="confidence <= 1")
    config = ws.endpoints.get("churn").config
    changed = [{"label": "maybe", "probabilities": {"maybe": 0.5, "no": 0.5}}]
    kept = [{"label": job.labels[0], "probabilities": {job.labels[0]: 0.5, "x": 0.5}}]
    review = ReviewQueue(ws)
    offer = dict(
        endpoint="churn", body=json.dumps(rows[:1]).encode(), content_type="application/json"
    )
    review.offer(config=config, inference_id="new", predictions=changed, **offer)
    review.offer(config=config, inference_id="old", predictions=kept, **offer)
    review.flush()
    assert [i.item for i in ws.labeling.items(job.name).items] == ["old:0"]
    counted = review.registry.get_sample_value
    assert counted("kiln_review_failures_total", {"endpoint": "churn"}) == 1
    assert "'maybe'" in caplog.text and "--job" in caplog.text
