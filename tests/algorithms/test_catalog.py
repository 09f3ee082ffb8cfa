import pytest
from sklearn.base import clone

from kiln.algorithms import ALGORITHMS, PROBLEM_TYPES, get_algorithm
from kiln.errors import ConfigError


def test_the_four_foundation_algorithms_are_built_in():
    assert {"xgboost", "lightgbm", "linear", "random_forest"} <= set(ALGORITHMS)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_defaults_build_a_clonable_estimator(name, problem_type):
    algorithm = ALGORITHMS[name]
    estimator = algorithm.build(problem_type, algorithm.hyperparameters(), 0)
    assert clone(estimator).get_params() == estimator.get_params()


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
