"""Search spaces: ranges parsed against the algorithm's schema, defaults, sampling, grids."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from kiln.algorithms import get_algorithm
from kiln.errors import ConfigError
from kiln.tuning import Range, parse_range, search_space

LIGHTGBM = get_algorithm("lightgbm")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("learning_rate=0.01:0.3:log", Range("learning_rate", "float", 0.01, 0.3, "log")),
        ("num_leaves=8:64", Range("num_leaves", "int", 8, 64, "linear")),
        ("subsample=0.5:0.99:reverse_log", Range("subsample", "float", 0.5, 0.99, "reverse_log")),
    ],
)
def test_numeric_ranges_take_their_type_from_the_schema(text, expected):
    assert parse_range(text, LIGHTGBM) == expected
    assert parse_range(expected.to_text(), LIGHTGBM) == expected


def test_choices_are_parsed_with_the_parameter_type():
    forest = get_algorithm("random_forest")
    assert parse_range("max_features=sqrt,all", forest).choices == ("sqrt", "all")
    assert parse_range("num_leaves=15,31,63", LIGHTGBM).choices == (15, 31, 63)


@pytest.mark.parametrize(
    "text, message",
    [
        ("num_leaf=8:64", "no hyperparameter 'num_leaf'. Did you mean 'num_leaves'?"),
        ("num_leaves=64:8", "low must be below high"),
        ("reg_lambda=0:10:log", "log scale needs low above 0"),
        ("subsample=0.5:1:reverse_log", "reverse_log scale needs 0 <= low < high < 1"),
        ("num_leaves=8:64:cubic", "SCALE one of linear, log, reverse_log"),
        ("num_leaves", "name=low:high"),
        ("num_leaves=31", "at least two different values"),
        ("num_leaves=1:8", r"'num_leaves' hyperparameter of lightgbm must be an integer in \[2,"),
    ],
)
def test_bad_ranges_say_what_is_wrong(text, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_range(text, LIGHTGBM)
    assert error.value.code in ("tuning.bad-range", "algorithm.bad-hyperparameter")


def test_numeric_range_on_a_choice_parameter_is_refused():
    with pytest.raises(ConfigError, match="max_features is a choice, not a number"):
        parse_range("max_features=1:3", get_algorithm("random_forest"))


def test_default_space_comes_from_the_schema_and_leaves_fixed_values_alone():
    space = search_space(LIGHTGBM, None, static={"n_estimators": 200})
    names = [r.name for r in space]
    assert "learning_rate" in names and "n_estimators" not in names
    assert all(r.low >= p.low for r in space for p in LIGHTGBM.params if p.name == r.name and r.low)
    with pytest.raises(ConfigError, match="both fixed"):
        search_space(LIGHTGBM, ["n_estimators=10:100"], static={"n_estimators": 200})
    with pytest.raises(ConfigError, match="no default search space"):
        search_space(get_algorithm("kmeans"), None)


def test_reverse_log_samples_crowd_near_the_top():
    momentum = Range("subsample", "float", 0.5, 0.999, "reverse_log")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = [momentum.suggest(study.ask()) for _ in range(400)]
    assert min(values) >= 0.5 and max(values) <= 0.999
    assert np.median(values) > 0.95  # a linear scale would put it near 0.75


def test_grids_follow_the_scale():
    assert Range("n", "int", 10, 1000, "log").grid(3) == [10, 100, 1000]
    assert Range("x", "float", 0, 1).grid(3) == [0.0, 0.5, 1.0]
    assert Range("m", "float", 0.9, 0.999, "reverse_log").grid(3) == [0.9, 0.99, 0.999]
    assert Range("k", "categorical", choices=("a", "b")).grid() == ["a", "b"]
