import inspect
import json
import sys

import pytest
from sklearn.base import clone

from kiln.algorithms import ALGORITHMS, BINARY, MULTICLASS, REGRESSION, get_algorithm
from kiln.errors import ConfigError


def comparable_params(estimator) -> dict:
    """Deep parameters without nested estimator objects (compared through their own parameters)
    and with NaN equal to itself."""
    return {
        key: "nan" if isinstance(value, float) and value != value else value
        for key, value in estimator.get_params(deep=True).items()
        if not hasattr(value, "get_params")
    }


def test_the_four_foundation_algorithms_are_built_in():
    assert {"xgboost", "lightgbm", "linear", "random_forest"} <= set(ALGORITHMS)


def test_the_supervised_catalog_and_its_problem_types():
    all_three = (BINARY, MULTICLASS, REGRESSION)
    for name in (
        "linear_learner",
        "catboost",
        "hist_gradient_boosting",
        "extra_trees",
        "decision_tree",
        "knn",
        "svm",
        "mlp",
    ):
        assert ALGORITHMS[name].problem_types == all_three
    assert ALGORITHMS["naive_bayes"].problem_types == (BINARY, MULTICLASS)
    assert ALGORITHMS["factorization_machines"].problem_types == (BINARY, REGRESSION)
    assert ALGORITHMS["factorization_machines"].sparse_input


@pytest.mark.parametrize(
    ("name", "problem_type"),
    [(n, p) for n, a in sorted(ALGORITHMS.items()) for p in a.problem_types],
)
def test_defaults_build_a_clonable_estimator(name, problem_type):
    algorithm = ALGORITHMS[name]
    estimator = algorithm.build(problem_type, algorithm.hyperparameters(), 0)
    assert comparable_params(clone(estimator)) == comparable_params(estimator)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_describes_itself_and_its_hyperparameters(name):
    algorithm = ALGORITHMS[name]
    described = json.loads(json.dumps(algorithm.to_dict()))
    assert described["summary"] and described["problem_types"]
    for param in algorithm.params:
        assert param.help and param.describe()
        # The default passes its own validation.
        assert param.parse(param.default, algorithm=name) == param.default


@pytest.mark.parametrize(
    ("name", "module", "classes"),
    [
        (
            "linear_learner",
            "_linear_learner",
            ("LinearLearnerClassifier", "LinearLearnerRegressor"),
        ),
        ("mlp", "_neural", ("NeuralNetworkClassifier", "NeuralNetworkRegressor")),
        (
            "factorization_machines",
            "_factorization",
            ("FactorizationMachineClassifier", "FactorizationMachineRegressor"),
        ),
    ],
)
def test_kiln_estimators_take_the_catalog_hyperparameters_with_the_same_defaults(
    name, module, classes
):
    """One schema: the catalog's parameters are the estimator's keyword arguments."""
    import importlib

    schema = {p.name: p.default for p in ALGORITHMS[name].params}
    for class_name in classes:
        cls = getattr(importlib.import_module(f"kiln.algorithms.{module}"), class_name)
        defaults = {
            k: v.default
            for k, v in inspect.signature(cls).parameters.items()
            if k != "random_state"
        }
        assert defaults == schema


def test_layer_sizes_are_a_list_of_integers():
    mlp = get_algorithm("mlp")
    assert mlp.hyperparameters()["hidden_layer_sizes"] == "64,32"
    assert mlp.hyperparameters({"hidden_layer_sizes": " 128, 64 ,32"})["hidden_layer_sizes"] == (
        "128,64,32"
    )
    assert mlp.hyperparameters({"hidden_layer_sizes": [16, 8]})["hidden_layer_sizes"] == "16,8"
    assert mlp.hyperparameters({"hidden_layer_sizes": 100})["hidden_layer_sizes"] == "100"
    for bad in ("64,x", "64,,32", "", "0", "64,1.5", [], [True]):
        with pytest.raises(ConfigError) as info:
            mlp.hyperparameters({"hidden_layer_sizes": bad})
        assert info.value.message == (
            "The 'hidden_layer_sizes' hyperparameter of mlp must be comma-separated integers "
            f"in [1, 4096], such as 64,32. Got {bad!r}."
        )
        assert info.value.code == "algorithm.bad-hyperparameter"


def test_new_hyperparameters_are_validated_with_the_uniform_message():
    with pytest.raises(ConfigError) as info:
        get_algorithm("linear_learner").hyperparameters({"optimizer": "adam"})
    assert info.value.message == (
        "The 'optimizer' hyperparameter of linear_learner must be one of minibatch, sgd. "
        "Got 'adam'."
    )
    with pytest.raises(ConfigError, match=r"'num_factors' .* integer in \[1, 1024\]. Got '0'"):
        get_algorithm("factorization_machines").hyperparameters({"num_factors": "0"})
    with pytest.raises(ConfigError, match="'depth' hyperparameter of catboost"):
        get_algorithm("catboost").hyperparameters({"depth": 17})
    with pytest.raises(ConfigError, match="one of rbf, linear, poly"):
        get_algorithm("svm").hyperparameters({"kernel": "sigmoid"})
    with pytest.raises(ConfigError, match="Did you mean 'n_neighbors'"):
        get_algorithm("knn").hyperparameters({"n_neighbours": 5})
    assert get_algorithm("svm").hyperparameters({"gamma": "none"})["gamma"] is None
    assert get_algorithm("linear_learner").hyperparameters({"eta0": "0.05"})["eta0"] == 0.05


def test_kiln_estimators_check_their_hyperparameters_in_fit():
    import numpy as np

    from kiln.algorithms._linear_learner import LinearLearnerClassifier

    X, y = np.eye(4), np.array([0, 1, 0, 1])
    estimator = LinearLearnerClassifier(epochs=0)
    with pytest.raises(ConfigError) as info:
        estimator.fit(X, y)
    assert info.value.message == (
        "The 'epochs' hyperparameter of linear_learner must be an integer in [1, 10000]. Got 0."
    )


def test_missing_catboost_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "catboost", None)  # import catboost now raises ImportError
    algorithm = get_algorithm("catboost")
    with pytest.raises(ConfigError) as info:
        algorithm.build(BINARY, algorithm.hyperparameters(), 0)
    assert info.value.message == "CatBoost is not installed: pip install 'kiln[catboost]'"
    assert info.value.code == "algorithm.missing-dependency"


def test_hyperparameter_values_are_converted_from_cli_strings():
    hp = get_algorithm("xgboost").hyperparameters({"max_depth": "4", "learning_rate": "0.1"})
    assert hp["max_depth"] == 4 and hp["learning_rate"] == 0.1
    assert (
        get_algorithm("random_forest").hyperparameters({"max_depth": "none"})["max_depth"] is None
    )


def test_out_of_range_value_reads_the_same_for_every_parameter():
    with pytest.raises(ConfigError) as info:
        get_algorithm("xgboost").hyperparameters({"max_depth": "0"})
    assert info.value.message == (
        "The 'max_depth' hyperparameter of xgboost must be an integer in [1, 30]. Got '0'."
    )
    with pytest.raises(ConfigError, match="must be an integer"):
        get_algorithm("lightgbm").hyperparameters({"num_leaves": "3.5"})
    with pytest.raises(ConfigError, match="one of l2, l1, elasticnet, none"):
        get_algorithm("linear").hyperparameters({"penalty": "l3"})


def test_unknown_hyperparameter_suggests_the_closest_and_lists_valid_ones():
    with pytest.raises(ConfigError) as info:
        get_algorithm("xgboost").hyperparameters({"max_dept": 3})
    assert "Did you mean 'max_depth'?" in info.value.message
    assert "n_estimators" in info.value.message
    assert info.value.field == "max_dept"


def test_unknown_algorithm_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'lightgbm'"):
        get_algorithm("lightgbn")


def test_the_algorithms_page_documents_every_hyperparameter():
    """docs/algorithms.md's tables match the catalog; regenerate them with
    ``python benchmarks/algorithms.py --reference`` after changing a schema."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "algorithms.md").read_text()
    for name, algorithm in ALGORITHMS.items():
        assert f"### `{name}`\n" in text, f"docs/algorithms.md has no section for {name}"
        section = text.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        for param in algorithm.params:
            default = param.default
            shown = (
                "none"
                if default is None
                else f"{default:g}"
                if isinstance(default, float)
                else str(default)
            )
            assert f"| `{param.name}` | {param.describe()} | `{shown}` | {param.help} |" in section


# -- the registry entry: what a new algorithm declares, and is checked for ------------------------
@pytest.mark.parametrize("name", sorted(n for n, a in ALGORITHMS.items() if a.tuning_ranges))
def test_default_tuning_ranges_parse_against_the_schema(name):
    from kiln.tuning import parse_range

    algorithm = ALGORITHMS[name]
    ranges = [parse_range(text, algorithm) for text in algorithm.tuning_ranges]
    assert {r.name for r in ranges} <= {p.name for p in algorithm.params}


@pytest.mark.parametrize("name", sorted(n for n, a in ALGORITHMS.items() if a.automl))
def test_automl_hints_are_valid_hyperparameters(name):
    algorithm = ALGORITHMS[name]
    hints = algorithm.automl
    assert hints.shap in (None, "native", "tree")
    assert hints.first_trial_cost > 0
    for point in hints.portfolio:
        assert algorithm.hyperparameters(point)  # raises on an unknown or invalid value


def test_automl_candidates_come_from_the_registry():
    from kiln.automl._search import FAMILIES, SCALE_SENSITIVE

    assert FAMILIES[0] == "lightgbm" and set(FAMILIES) == {
        n for n, a in ALGORITHMS.items() if a.automl
    }
    assert {n for n in FAMILIES if ALGORITHMS[n].scale_numeric} == SCALE_SENSITIVE


def test_a_registered_name_cannot_be_registered_again():
    from dataclasses import replace

    from kiln.algorithms import register_algorithm
    from kiln.errors import ConfigError

    with pytest.raises(ConfigError, match="'lightgbm' is registered already"):
        register_algorithm(replace(ALGORITHMS["lightgbm"]))
    assert list(ALGORITHMS).count("lightgbm") == 1


def test_automl_and_tuning_share_the_default_objective():
    import inspect

    from kiln.automl._search import METRICS
    from kiln.forecasting import forecast_automl
    from kiln.problems import DEFAULT_OBJECTIVE, FORECASTING

    tabular = {k: v for k, v in DEFAULT_OBJECTIVE.items() if k != FORECASTING}
    assert {kind: names[0] for kind, names in METRICS.items()} == tabular
    metric = inspect.signature(forecast_automl).parameters["metric"].default
    assert DEFAULT_OBJECTIVE[FORECASTING] == metric
