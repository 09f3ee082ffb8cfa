import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer, load_iris

from conftest import FIXTURES
from kiln.errors import ConfigError


@pytest.fixture
def iris(ws):
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    ws.data.ingest(frame, name="iris")
    return ws


@pytest.mark.parametrize(
    ("algorithm", "hp", "floor"),
    [
        ("kmeans", {"k": 3}, 0.55),
        ("gaussian_mixture", {"components": 3}, 0.55),
        ("dbscan", {"eps": 0.8, "min_samples": 5}, 0.45),
    ],
)
def test_clustering_recovers_iris_species(iris, algorithm, hp, floor):
    result = iris.train("iris", algorithm=algorithm, target="species", hyperparameters=hp)
    assert result.model.problem_type == "clustering"
    test = result.metrics["test"]
    assert test["adjusted_rand"] >= floor
    assert {"silhouette", "davies_bouldin", "calinski_harabasz", "rand"} <= set(test)
    # species is evaluation-only, never an input
    assert "species" not in [c["name"] for c in result.model.signature["inputs"]]


def test_pca_and_serving_unsupervised_outputs(iris, tmp_path):
    result = iris.train(
        "iris", algorithm="pca", target="species", hyperparameters={"components": 2}
    )
    assert result.metrics["train"]["explained_variance"] > 0.9
    clusters = iris.train("iris", algorithm="kmeans", target="species", hyperparameters={"k": 3})
    iris.endpoints.deploy(result.model.ref, endpoint="pca", allow_unapproved=True)
    iris.endpoints.deploy(clusters.model.ref, endpoint="clusters", allow_unapproved=True)
    from kiln.serving import create_app

    rows = load_iris(as_frame=True).frame.drop(columns=["target"]).head(2).to_dict("records")
    with TestClient(create_app(iris), base_url="http://localhost") as client:
        pca = client.post("/endpoints/pca/invocations", json=rows).json()
        groups = client.post("/endpoints/clusters/invocations", json=rows).json()
    assert [len(p["components"]) for p in pca["predictions"]] == [2, 2]
    assert {p["cluster"] for p in groups["predictions"]} <= {0, 1, 2}
    source = tmp_path / "iris.csv"
    pd.DataFrame(rows * 50).to_csv(source, index=False)
    out = tmp_path / "clusters.csv"
    iris.transform(clusters.model.ref, input=source, output=out)
    assert pd.read_csv(out)["cluster"].nunique() == 1


@pytest.mark.parametrize("algorithm", ["isolation_forest", "random_cut_forest"])
def test_anomaly_detectors_find_rare_malignant_tumours(ws, algorithm):
    data = load_breast_cancer(as_frame=True).frame
    benign, malignant = data[data.target == 1], data[data.target == 0].sample(20, random_state=0)
    frame = pd.concat([benign, malignant]).rename(columns={"target": "benign"})
    frame["malignant"] = np.where(frame.pop("benign") == 0, "yes", "no")
    ws.data.ingest(frame, name="tumours")
    result = ws.train("tumours", algorithm=algorithm, target="malignant", ratios=(0.8, 0.0, 0.2))
    model = ws.models.load(result.model.ref)
    scores, flags = model.anomaly_scores(frame)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(frame["malignant"] == "yes", scores) >= 0.85
    assert 0.02 <= result.metrics["train"]["flagged_share"] <= 0.15
    assert set(model.predictions(frame.head(1))[0]) == {"score", "anomaly"}


def test_text_classifier_and_topic_model_on_real_docstrings(ws):
    ws.data.ingest(FIXTURES / "docstrings.csv", name="docs")
    result = ws.train("docs", target="library", algorithm="text_classifier")
    assert result.metrics["test"]["accuracy"] >= 0.8
    assert [c["name"] for c in result.model.signature["inputs"]] == ["text"]
    model = ws.models.load(result.model.ref)
    guess = model.predict(
        pd.DataFrame({"text": ["Fit the estimator and return the fitted classifier."]})
    )
    assert guess[0] == "scikit-learn"
    topics = ws.train("docs", algorithm="lda", hyperparameters={"topics": 5})
    assert topics.model.problem_type == "topic_modeling"
    assert len(topics.model.signature["outputs"]["topic_words"]) == 5
    assert topics.metrics["test"]["perplexity"] > 0


def test_supervised_algorithms_need_a_target_and_unsupervised_ones_refuse_other_types(iris):
    with pytest.raises(ConfigError, match="--target"):
        iris.train("iris", algorithm="lightgbm")
    with pytest.raises(ConfigError, match="does not do binary"):
        iris.train("iris", algorithm="kmeans", problem_type="binary")


def test_clustering_report_has_the_clustering_section(iris, tmp_path):
    result = iris.train("iris", algorithm="kmeans", target="species", hyperparameters={"k": 3})
    report = iris.jobs.report(result.job.id, out=tmp_path / "kmeans.html")
    html = report.path.read_text()
    assert "Rows per cluster" in html and "adjusted_rand" in html
