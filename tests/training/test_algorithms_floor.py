"""Each catalog algorithm added after the first four, trained as a real job on real data, reaches
a floor score a correct implementation reaches on the held-out test split; the iterative ones log
per-iteration training and validation losses to the job. Every catalog algorithm has such a floor
test (here or, for the first four, in test_train.py) or is exempt below with its reason."""

import pytest
from sklearn.datasets import load_iris

from conftest import FIXTURES
from kiln.algorithms import ALGORITHMS, BINARY, MULTICLASS, REGRESSION
from training.test_train import FAST as FIRST_FOUR

# Lighter than the defaults where that keeps the floor, so each job takes a few seconds.
FAST = {
    "linear_learner": {},
    "catboost": {"n_estimators": 200, "learning_rate": 0.1},
    "hist_gradient_boosting": {},
    "extra_trees": {"n_estimators": 100},
    "decision_tree": {},
    "knn": {},
    "naive_bayes": {},
    "svm": {},
    "mlp": {},
    "factorization_machines": {},
}
# Algorithms without a floor test on churn, housing and iris, and why. Keep the reason honest:
# a new supervised algorithm belongs in FAST, not here.
EXEMPT = {
    "text_classifier": "needs a text column: its floor (accuracy >= 0.8 on docstrings) is in "
    "test_unsupervised.py::test_text_classifier_and_topic_model_on_real_docstrings",
    "kmeans": "clustering: adjusted Rand floor on iris in test_unsupervised.py",
    "gaussian_mixture": "clustering: adjusted Rand floor on iris in test_unsupervised.py",
    "dbscan": "clustering: adjusted Rand floor on iris in test_unsupervised.py",
    "isolation_forest": "anomaly detection: floor on breast cancer in test_unsupervised.py",
    "random_cut_forest": "anomaly detection: floor on breast cancer in test_unsupervised.py",
    "pca": "dimensionality reduction has no score to floor; test_unsupervised.py checks its output",
    "lda": "topic modelling has no score to floor; test_unsupervised.py checks its topics",
}
ITERATIVE = {"linear_learner", "catboost", "mlp", "factorization_machines"}

# (data set, target, metric, floor) by problem type. A single depth-6 tree is the weakest model
# here: it gets its own floors (26 of the 31 iris test rows right; R² 0.48 on housing). So does
# hist_gradient_boosting on iris: scikit-learn's default 20-row leaves on iris's hundred training
# rows make coarse trees (26 of 31 right at its defaults, which are the point of it).
FLOORS = {
    BINARY: ("churn", "churn", "roc_auc", 0.80),
    REGRESSION: ("housing", "price", "r2", 0.45),
    MULTICLASS: ("iris", "species", "accuracy", 0.85),
}
OWN_FLOORS = {
    ("decision_tree", REGRESSION): 0.40,
    ("decision_tree", MULTICLASS): 0.80,
    ("hist_gradient_boosting", MULTICLASS): 0.80,
}


@pytest.fixture
def datasets(ws, churn_csv):
    ws.data.ingest(churn_csv, name="churn")
    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    iris = load_iris(as_frame=True).frame
    iris["species"] = iris.pop("target").map(dict(enumerate(load_iris().target_names)))
    ws.data.ingest(iris, name="iris")
    return ws


def without_a_floor_test(catalog) -> set[str]:
    """The algorithms of ``catalog`` that neither have a floor test nor are exempt."""
    return set(catalog) - set(FAST) - set(FIRST_FOUR) - set(EXEMPT)


def test_every_new_algorithm_has_a_floor_test():
    missing = without_a_floor_test(ALGORITHMS)
    assert not missing, (
        f"{sorted(missing)} have no floor test: add them to FAST in test_algorithms_floor.py "
        "(or, if a floor on churn, housing and iris cannot apply, to EXEMPT with the reason)"
    )
    # No stale or contradictory entries: each tested or exempt name is in the catalog once.
    listed = [*FAST, *FIRST_FOUR, *EXEMPT]
    assert len(listed) == len(set(listed)), "an algorithm is both floor-tested and exempt"
    assert set(listed) <= set(ALGORITHMS), set(listed) - set(ALGORITHMS)
    assert all(len(reason) > 20 for reason in EXEMPT.values())


def test_the_floor_check_catches_an_algorithm_added_without_a_test():
    new = dict(ALGORITHMS, shiny_new_boost=ALGORITHMS["xgboost"])
    assert without_a_floor_test(new) == {"shiny_new_boost"}


@pytest.mark.parametrize("algorithm", sorted(FAST))
def test_algorithm_reaches_its_floor_on_real_data(datasets, algorithm):
    ws = datasets
    for problem_type in ALGORITHMS[algorithm].problem_types:
        data, target, metric, floor = FLOORS[problem_type]
        floor = OWN_FLOORS.get((algorithm, problem_type), floor)
        result = ws.train(data, target=target, algorithm=algorithm, hyperparameters=FAST[algorithm])
        assert result.model.problem_type == problem_type
        score = result.metrics["test"][metric]
        assert score >= floor, f"{algorithm} {problem_type}: test {metric} {score} < {floor}"
        series = ws.jobs.metrics(result.job.id)
        if algorithm in ITERATIVE:
            train = sorted(k for k in series if k.startswith("train_"))
            validation = sorted(k for k in series if k.startswith("validation_"))
            assert train and validation, series.keys()
            assert len(series[train[0]]) == len(series[validation[0]]) >= 2
        else:
            assert not series


def test_cross_validation_logs_each_folds_curves_and_refits(datasets):
    result = datasets.train(
        "churn",
        target="churn",
        algorithm="factorization_machines",
        validation="stratified_kfold:3",
    )
    assert result.metrics["cv_mean"]["roc_auc"] >= 0.80
    series = datasets.jobs.metrics(result.job.id)
    for fold in (1, 2, 3):
        assert len(series[f"fold{fold}/validation_log_loss"]) >= 2
    assert result.metrics["test"]["roc_auc"] >= 0.80
