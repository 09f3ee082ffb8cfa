"""Pipeline definitions: parameters, the DAG and every check made before any step runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.errors import ConfigError
from kiln.pipelines import Parameter, Pipeline, Step, load_pipeline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "churn.yaml"


def _pipeline(steps: dict, params: dict | None = None) -> Pipeline:
    return Pipeline.from_dict({"name": "demo", "params": params or {}, "steps": steps})


def test_steps_run_after_the_steps_they_refer_to():
    pipeline = _pipeline(
        {
            "train": {"type": "train", "data": "${steps.split.train}", "algorithm": "linear"},
            "split": {"type": "split", "data": "${steps.ingest.data}"},
            "ingest": {"type": "ingest", "source": "a.csv", "name": "raw"},
            "profile": {"type": "profile", "data": "${steps.ingest.data}", "after": "split"},
        }
    )
    assert pipeline.check() == ["ingest", "split", "train", "profile"]


def test_a_python_pipeline_is_the_same_model_as_yaml(tmp_path):
    built = Pipeline(
        "demo",
        params=[Parameter("target", "str", "churn")],
        steps=[
            Step("ingest", "ingest", {"source": "a.csv", "name": "raw"}),
            Step("split", "split", {"data": "${steps.ingest.data}", "target": "${params.target}"}),
        ],
    )
    read = Pipeline.from_dict(built.to_dict())
    assert read.to_dict() == built.to_dict() and read.digest == built.digest
    assert read.check({"target": "churn"}) == ["ingest", "split"]


def test_a_cycle_is_refused_naming_its_steps():
    pipeline = _pipeline(
        {
            "a": {"type": "split", "data": "${steps.c.test}"},
            "b": {"type": "split", "data": "${steps.a.train}"},
            "c": {"type": "split", "data": "${steps.b.train}"},
        }
    )
    with pytest.raises(ConfigError) as caught:
        pipeline.check()
    assert caught.value.code == "pipeline.cycle"
    assert all(f"{name} →" in caught.value.message or f"→ {name}" in caught.value.message
               for name in "abc")  # fmt: skip


def test_an_unknown_step_or_output_is_refused_naming_both():
    with pytest.raises(ConfigError) as caught:
        _pipeline({"split": {"type": "split", "data": "${steps.ingset.data}"}}).check()
    assert caught.value.code == "pipeline.unknown-reference"
    assert "'split'" in caught.value.message and "'ingset'" in caught.value.message

    pipeline = _pipeline(
        {
            "ingest": {"type": "ingest", "source": "a.csv", "name": "raw"},
            "split": {"type": "split", "data": "${steps.ingest.dataset}"},
        }
    )
    with pytest.raises(ConfigError) as caught:
        pipeline.check()
    message = caught.value.message
    assert caught.value.code == "pipeline.unknown-reference"
    assert "'split'" in message and "ingest.dataset" in message and "'data'" in message


def test_an_unknown_type_field_or_parameter_is_refused():
    with pytest.raises(ConfigError) as caught:
        _pipeline({"t": {"type": "trian", "data": "x"}}).check()
    assert caught.value.code == "pipeline.unknown-step-type" and "'train'" in caught.value.message

    with pytest.raises(ConfigError) as caught:
        _pipeline({"t": {"type": "train", "data": "x", "algoritm": "linear"}}).check()
    assert caught.value.code == "pipeline.unknown-field" and "'algorithm'" in caught.value.message

    with pytest.raises(ConfigError) as caught:
        _pipeline({"s": {"type": "split", "data": "${params.dta}"}}, {"data": "x"}).check()
    assert caught.value.code == "pipeline.unknown-reference" and "'dta'" in caught.value.message

    with pytest.raises(ConfigError) as caught:
        _pipeline({"s": {"type": "split", "data": "x", "retry": {"attempts": 0}}}).check()
    assert caught.value.code == "pipeline.bad-retry"


def test_a_condition_on_an_unknown_metric_is_refused():
    pipeline = _pipeline(
        {"gate": {"type": "condition", "model": "churn", "when": "test.roc_acu >= ${params.m}"}},
        {"m": 0.8},
    )
    with pytest.raises(ConfigError) as caught:
        pipeline.check(pipeline.resolve_params())
    assert caught.value.code == "pipeline.unknown-metric"
    assert "'roc_acu'" in caught.value.message and "'roc_auc'" in caught.value.message


def test_parameters_are_converted_and_a_wrong_type_is_refused():
    pipeline = _pipeline(
        {"s": {"type": "split", "data": "x", "seed": "${params.seed}"}},
        {"seed": {"type": "int", "default": 1}, "strict": False, "name": {"type": "str"}},
    )
    assert pipeline.resolve_params({"seed": "7", "strict": "yes", "name": "a"}) == {
        "seed": 7,
        "strict": True,
        "name": "a",
    }
    with pytest.raises(ConfigError) as caught:
        pipeline.resolve_params({"seed": "seven", "name": "a"})
    assert caught.value.code == "pipeline.bad-param"
    assert all(word in caught.value.message for word in ("'seed'", "'seven'", "int"))
    with pytest.raises(ConfigError, match="needs parameter 'name'"):
        pipeline.resolve_params({})
    with pytest.raises(ConfigError, match="no parameter 'sed'"):
        pipeline.resolve_params({"sed": "1", "name": "a"})


def test_the_example_pipeline_reads_and_checks():
    pipeline = load_pipeline(EXAMPLE)
    order = pipeline.check(pipeline.resolve_params())
    assert order[0] == "ingest" and order[-1] == "monitor"
    assert order.index("gate") < order.index("register") < order.index("deploy")


def test_a_python_function_is_stored_as_its_import_path():
    from recipe_functions import charges_per_month

    def step(function) -> Pipeline:
        return Pipeline("demo", [Step("clean", "processing", {"function": function})])

    stored = step(charges_per_month).to_dict()["steps"]["clean"]["function"]
    assert stored == "recipe_functions:charges_per_month"
    with pytest.raises(ConfigError) as caught:
        step(lambda inputs: inputs).to_dict()
    assert caught.value.code == "pipeline.bad-function" and "cannot import" in caught.value.message


def test_a_train_step_takes_every_training_option():
    # The step's fields are listed by hand (checking a definition must not import the training
    # stack); this keeps the list in step with TrainingOptions.
    from dataclasses import fields

    from kiln.pipelines import STEP_TYPES
    from kiln.training import TrainingOptions

    assert set(STEP_TYPES["train"].optional) == {f.name for f in fields(TrainingOptions)}


INGEST = "  a: {type: ingest, source: x.csv, name: raw"
UNCLOSED = "  b: {type: split, data: '${steps.a.data'}"


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (f"name: p\nsteps:\n{INGEST}}}\n{INGEST}}}\n".encode(), "the key 'a' appears twice"),
        (f"name: p\ndescription: caf\xe9\nsteps:\n{INGEST}}}\n".encode("latin-1"), "UTF-8"),
        (b"name: p\nparams: [a, b]\nsteps:\n" + INGEST.encode() + b"}\n", "['a', 'b']"),
        (f"name: p\nsteps:\n{INGEST}, after: 5}}\n".encode(), "'after' is a list"),
        (f"name: p\nsteps:\n{INGEST}, cache: maybe}}\n".encode(), "got 'maybe'"),
        (f"name: p\nsteps:\n{INGEST}, retry: 3}}\n".encode(), "'retry' is {attempts"),
        (
            f"name: p\nsteps:\n{INGEST}}}\n{UNCLOSED}\n".encode(),
            "'${steps.a.data' opens '${' without closing it",
        ),
        (b"name: p\nsteps:\n  - {type: split, data: raw}\n", "Step 1 of the list of steps has no"),
        (
            b"name: p\nsteps:\n  - {name: s, type: split, data: a}\n  - {name: s, type: split}\n",
            "Two steps are named 's'",
        ),
    ],
    ids=[
        "repeated-step",
        "not-utf8",
        "params-list",
        "after",
        "cache",
        "retry",
        "unclosed",
        "unnamed-listed-step",
        "listed-step-twice",
    ],  # fmt: skip
)
def test_a_malformed_definition_file_is_refused_naming_what_is_wrong(tmp_path, content, shown):
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path).check()
    assert caught.value.code.startswith("pipeline.")
    assert shown in caught.value.message


def test_a_train_steps_recipe_file_and_custom_estimator_are_its_code(tmp_path, monkeypatch):
    from kiln.pipelines._steps import StepRun, _recipe_path, code_of

    (tmp_path / "recipe.yaml").write_text("steps: []\n")
    (tmp_path / "kiln_review_estimator.py").write_text("class Margin:\n    C = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    definition = tmp_path / "pipeline.yaml"
    definition.write_text(
        "name: p\nsteps:\n  fit: {type: train, data: churn, recipe: recipe.yaml, "
        "algorithm: 'kiln_review_estimator:Margin'}\n"
    )
    pipeline = load_pipeline(definition)
    step = pipeline.step("fit")
    monkeypatch.chdir(tmp_path.parent)  # relative paths are the definition's, not the cwd's
    first = code_of(pipeline, step, step.fields)
    (tmp_path / "recipe.yaml").write_text("steps: [{step: impute, columns: [tenure]}]\n")
    second = code_of(pipeline, step, step.fields)
    (tmp_path / "kiln_review_estimator.py").write_text("class Margin:\n    C = 2.5\n")
    third = code_of(pipeline, step, step.fields)
    assert len({first, second, third}) == 3 and "C = 2.5" in third
    run = StepRun(None, pipeline, step, dict(step.fields), "pipe-x", print)  # type: ignore[arg-type]
    assert _recipe_path(run, {"recipe": "recipe.yaml"}) == {"recipe": str(tmp_path / "recipe.yaml")}


def test_a_data_set_name_a_step_would_write_is_checked_before_any_step_runs():
    ingest = {"type": "ingest", "source": "x.csv", "name": "${params.raw}"}
    pipeline = _pipeline({"a": ingest}, {"raw": "raw data"})
    with pytest.raises(ConfigError) as caught:
        pipeline.check(pipeline.resolve_params())
    assert caught.value.code == "name.invalid" and "would write data set 'raw data'" in (
        caught.value.message
    )
    processing = {"type": "processing", "sql": "SELECT 1", "outputs": ["ok", "not-ok"]}
    pipeline = _pipeline({"b": processing})
    with pytest.raises(ConfigError, match="would write data set 'demo_b_not-ok'"):
        pipeline.check(pipeline.resolve_params())
    assert _pipeline({"b": {**processing, "outputs": ["ok"]}}).check({}) == ["b"]


def test_a_processing_functions_code_is_its_whole_module(tmp_path, monkeypatch):
    from kiln.pipelines._steps import code_of

    module = tmp_path / "kiln_review_features.py"
    module.write_text("def process(inputs):\n    return _helper(inputs)\n\n\n_helper = dict\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    step = Step("clean", "processing", {"function": "kiln_review_features:process"})
    pipeline = Pipeline("p", [step], base_dir=str(tmp_path))
    before = code_of(pipeline, step, step.fields)
    module.write_text(module.read_text().replace("_helper = dict", "_helper = sorted"))
    assert code_of(pipeline, step, step.fields) != before  # the helper changed, not process


def test_the_docs_table_lists_every_step_type():
    import re

    from kiln.pipelines import STEP_TYPES

    docs = (EXAMPLE.parents[2] / "docs" / "pipelines.md").read_text()
    assert set(re.findall(r"^\| `(\w+)` \|", docs, flags=re.M)) >= set(STEP_TYPES)
