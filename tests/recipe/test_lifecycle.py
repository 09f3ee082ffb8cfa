"""A recipe end to end: CLI training and preview, the endpoint and batch transform run it."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

import kiln
from conftest import CHURN_CSV
from kiln.serving import create_app
from kiln.settings import set_pii_key

RECIPE = [
    {"step": "impute", "columns": ["total_charges"], "strategy": "median"},
    {"step": "ratio", "numerator": ["total_charges"], "denominator": ["monthly_charges"]},
    {"step": "hash_pii", "columns": ["payment_method"]},
    {"step": "target_encode", "columns": ["payment_method", "contract"]},
    {"step": "one_hot", "max_categories": 4},
    {"step": "smote"},
]


def run_kiln(*args: str, home, check: bool = False) -> subprocess.CompletedProcess:
    """The CLI in this process (``kiln.cli.main``: its imports paid once, not per command), with
    what ``run_kiln`` of tests/helpers.py returns; a module fixture cannot take ``run_cli``. The
    jobs it starts still run in processes of their own."""
    from kiln.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--home", str(home), *args])
    if check and code != 0:
        raise AssertionError(
            f"kiln {' '.join(args)} exited {code}:\n{out.getvalue()}{err.getvalue()}"
        )
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("recipe") / "ws"
    workspace = kiln.Workspace.init(home)  # set up in-process: the CLI under test is train
    workspace.data.ingest(CHURN_CSV, name="churn")
    workspace.close()
    with open(home / "kiln.toml", "a") as settings:
        settings.write('pii_key = "not-in-any-model"\n')
    (home.parent / "recipe.yaml").write_text(yaml.safe_dump({"steps": RECIPE}))
    yield home
    set_pii_key(None)


@pytest.fixture(scope="module")
def trained(home):
    result = run_kiln(
        "train",
        "--data",
        "churn",
        "--target",
        "churn",
        "--algorithm",
        "lightgbm",
        "--hp",
        "n_estimators=40",
        "--recipe",
        str(home.parent / "recipe.yaml"),
        "--json",
        home=home,
        check=True,
    )
    return json.loads(result.stdout)


def test_cli_training_with_a_recipe_registers_a_model(trained, home):
    assert trained["model"] == "churn:1"
    assert trained["metrics"]["test"]["roc_auc"] > 0.8
    logs = run_kiln("jobs", "logs", trained["job"], home=home, check=True).stdout
    assert "Recipe: impute → ratio → hash_pii → target_encode → one_hot → smote" in logs
    report = home.parent / "report.html"
    run_kiln(
        "jobs", "report", trained["job"], "--out", str(report), "--no-learning-curve",
        home=home, check=True,
    )  # fmt: skip
    assert "impute(total_charges) → ratio(total_charges, monthly_charges)" in report.read_text()
    artifacts = b"".join(p.read_bytes() for p in (home / "artifacts").rglob("*") if p.is_file())
    assert b"not-in-any-model" not in artifacts


def test_endpoint_and_batch_transform_run_the_recipe(trained, home, tmp_path):
    ws = kiln.Workspace(home)
    ws.endpoints.deploy(trained["model"], endpoint="churn_recipe", allow_unapproved=True)
    model = ws.models.load(trained["model"])
    rows = pd.read_csv(CHURN_CSV).drop(columns=["churn"])
    rows = rows[rows["total_charges"].isna()].head(2)  # missing values go through the recipe
    expected = model.predict_proba(rows)[:, 1]
    body = rows.astype(object).where(rows.notna(), None).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        response = client.post("/endpoints/churn_recipe/invocations", json=body)
    assert response.status_code == 200, response.text
    got = [p["probabilities"]["Yes"] for p in response.json()["predictions"]]
    assert got == pytest.approx(expected, abs=1e-5)  # responses carry 5 decimals

    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    job = ws.transform(trained["model"], input=source, output=tmp_path / "out.csv")
    assert job.status == "Completed"
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["probability_Yes"].to_numpy() == pytest.approx(expected, abs=1e-9)
    ws.close()


def test_preview_shows_schema_and_rows_before_and_after(home):
    result = run_kiln(
        "data",
        "preview",
        "churn",
        "--recipe",
        str(home.parent / "recipe.yaml"),
        "--target",
        "churn",
        "--rows",
        "3",
        "--json",
        home=home,
        check=True,
    )
    preview = json.loads(result.stdout)
    assert preview["steps"] == [s["step"] for s in RECIPE]
    assert len(preview["before"]) == len(preview["after"]) == 3
    assert preview["before"][0]["payment_method"] == "Electronic check"
    after = preview["after"][0]
    assert after["total_charges_per_monthly_charges"] == pytest.approx(29.85 / 29.85)
    assert "payment_method_target" in after and "contract_target" in after
    schema = {c["name"]: c["type"] for c in preview["schema"]}
    assert schema["payment_method_target"] == "numeric"
    assert preview["training_rows_after"] > 7043  # SMOTE added minority rows
    table = run_kiln(
        "data",
        "preview",
        "churn",
        "--recipe",
        str(home.parent / "recipe.yaml"),
        "--target",
        "churn",
        home=home,
        check=True,
    ).stdout
    assert "Output schema" in table and "Before" in table and "After" in table


@pytest.mark.parametrize(
    "steps, message",
    [
        ([{"step": "onehot"}], "unknown step 'onehot'. Did you mean 'one_hot'?"),
        ([{"step": "scale", "columns": ["contract"]}], "column 'contract' is categorical"),
        ([{"step": "impute", "columns": ["tenur"]}], "unknown column 'tenur'"),
    ],
)
def test_bad_recipes_fail_before_any_job_starts(home, steps, message):
    path = home.parent / "bad.yaml"
    path.write_text(yaml.safe_dump(steps))
    jobs_before = _job_ids(home)
    result = run_kiln(
        "train",
        "--data",
        "churn",
        "--target",
        "churn",
        "--algorithm",
        "lightgbm",
        "--recipe",
        str(path),
        home=home,
    )
    assert result.returncode == 2
    assert message in result.stderr + result.stdout
    assert _job_ids(home) == jobs_before


def _job_ids(home) -> list[str]:
    """The workspace's jobs, read in-process (a CLI call per check costs a process start)."""
    import kiln

    workspace = kiln.Workspace(home)
    try:
        return [job.id for job in workspace.jobs.list(limit=None)]
    finally:
        workspace.close()


def test_topic_model_with_a_recipe_names_its_topics_in_words(ws):
    from conftest import FIXTURES

    ws.data.ingest(FIXTURES / "docstrings.csv", name="docs")
    result = ws.train(
        "docs",
        algorithm="lda",
        hyperparameters={"topics": 3},
        recipe=[
            {"step": "remove_stopwords", "columns": ["text"]},
            {"step": "bag_of_words", "columns": ["text"], "min_df": 2},
        ],
    )
    topics = result.model.signature["outputs"]["topic_words"]
    assert len(topics) == 3 and all(w.isalpha() for words in topics for w in words)


@pytest.mark.parametrize(
    "algorithm, steps, message",
    [
        # text_classifier reads only text columns: 'tenure' will not be there.
        ("text_classifier", [{"step": "scale", "columns": ["tenure"]}], "unknown column 'tenure'"),
        # The target is inferred as regression: no class to balance.
        (
            "lightgbm",
            [{"step": "smote"}],
            "needs a classification target; this problem is regression",
        ),
    ],
)
def test_recipes_are_checked_against_what_the_job_will_see(ws, algorithm, steps, message):
    frame = pd.read_csv(CHURN_CSV).head(500)
    frame["notes"] = frame["contract"] + " customer paying by " + frame["payment_method"] + "."
    ws.data.ingest(frame, name="notes")
    target = "churn" if algorithm == "text_classifier" else "monthly_charges"
    with pytest.raises(kiln.recipe.RecipeError, match=message):
        ws.train("notes", target=target, algorithm=algorithm, recipe=steps)
    assert ws.jobs.list() == []


def test_opening_a_workspace_without_a_pii_key_forgets_the_previous_one(tmp_path):
    from kiln.recipe._ops import pii_key

    first = kiln.Workspace.init(tmp_path / "a")
    (tmp_path / "a" / "kiln.toml").write_text('[kiln]\npii_key = "key-of-a"\n')
    kiln.Workspace(tmp_path / "a").close()
    assert pii_key() == "key-of-a"
    kiln.Workspace.init(tmp_path / "b").close()
    with pytest.raises(kiln.recipe.RecipeError, match="needs a secret key"):
        pii_key()
    first.close()
