"""Parsing and validating recipes: YAML and Python forms, and the errors for bad ones."""

from __future__ import annotations

import pytest
import yaml

from kiln.recipe import STEPS, Recipe, RecipeError


def test_yaml_file_list_and_mapping_forms_parse_alike(tmp_path):
    steps = [{"step": "impute", "columns": "numeric", "strategy": "mean"}, {"step": "one_hot"}]
    as_list, as_mapping = tmp_path / "list.yaml", tmp_path / "mapping.yaml"
    as_list.write_text(yaml.safe_dump(steps))
    as_mapping.write_text(yaml.safe_dump({"steps": steps}))
    expected = Recipe.parse(steps).to_list()
    assert Recipe.parse(as_list).to_list() == expected
    assert Recipe.parse(str(as_mapping)).to_list() == expected
    assert expected[0] == {
        "step": "impute",
        "columns": "numeric",
        "strategy": "mean",
        "fill_value": None,
        "n_neighbors": 5,
        "max_iter": 10,
    }


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_documented_example_is_a_valid_step(name):
    example = yaml.safe_load(STEPS[name].example)
    assert example["step"] == name
    assert Recipe.parse([example]).steps[0].name == name


def test_unknown_step_lists_the_valid_ones_and_suggests_the_closest():
    with pytest.raises(RecipeError) as error:
        Recipe.parse([{"step": "one_hott"}])
    assert error.value.code == "recipe.unknown-step"
    assert "Did you mean 'one_hot'?" in str(error.value)
    assert "target_encode" in str(error.value)  # the valid steps are listed


def test_unknown_parameter_lists_the_valid_ones_and_suggests_the_closest():
    with pytest.raises(RecipeError) as error:
        Recipe.parse([{"step": "impute", "strategy": "mean", "n_neighbours": 3}])
    assert error.value.code == "recipe.unknown-parameter"
    assert "'n_neighbours'" in str(error.value)
    assert "Did you mean 'n_neighbors'?" in str(error.value)
    assert "strategy" in str(error.value) and "fill_value" in str(error.value)


def test_bad_parameter_value_names_the_parameter_and_value():
    with pytest.raises(RecipeError) as error:
        Recipe.parse([{"step": "impute", "strategy": "average"}])
    assert error.value.code == "recipe.bad-parameter"
    assert "strategy" in str(error.value) and "'average'" in str(error.value)
    with pytest.raises(RecipeError, match="threshold"):
        Recipe.parse([{"step": "drop_missing_columns", "threshold": 1.5}])


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("steps: [", "not valid YAML"),
        ("impute", "is a list of steps"),
        ("- impute", "must be a mapping with a 'step' key"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(content)
    with pytest.raises(RecipeError, match=message):
        Recipe.parse(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(RecipeError, match="does not exist") as error:
        Recipe.parse(tmp_path / "nope.yaml")
    assert error.value.code == "recipe.not-found"


def test_every_step_has_its_op_and_a_valid_output_type():
    """What a new step must declare: its spec (in STEPS), the Op that @performs it, and the type
    it leaves its columns with."""
    from kiln.data import SEMANTIC_TYPES
    from kiln.recipe import STEPS
    from kiln.recipe._ops import Op
    from kiln.recipe._ops._base import _OPS

    for name, spec in STEPS.items():
        assert issubclass(_OPS.get(spec, object), Op), f"step {name!r} has no Op"
        assert spec.output_type in (*SEMANTIC_TYPES, "same", None), name
