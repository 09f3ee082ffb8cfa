"""Drive the real ``kiln`` command line in a temporary workspace.

The first tests run ``python -m kiln`` in a process of its own; the rest run the CLI in this
process (``kiln.cli.main``: each command's imports paid once, not once per command), with the
same exit statuses and output. The README tour runs the lifecycle through the installed
``kiln`` program as well (tests/test_docs_snippets.py)."""

import json

import pytest

from conftest import CHURN_CSV
from helpers import run_kiln


def init(home, *, churn: bool = False):
    """A workspace set up in-process: the commands under test come after."""
    import kiln

    workspace = kiln.Workspace.init(home)
    if churn:
        workspace.data.ingest(CHURN_CSV, name="churn")
    workspace.close()
    return home


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A workspace with churn ingested, for the error tests (which change nothing in it)."""
    return init(tmp_path_factory.mktemp("cli") / "ws", churn=True)


@pytest.fixture
def cli(run_cli):
    """The CLI in this process: ``run_kiln`` and ``kiln_json`` (``--json``, parsed)."""

    def as_json(*args: str, home=None):
        return json.loads(run_cli(*args, "--json", home=home, check=True).stdout)

    return run_cli, as_json


def test_version_and_python_dash_m():
    result = run_kiln("--version", check=True)
    assert result.stdout.strip().startswith("kiln 0.")


def test_outside_a_workspace_says_how_to_make_one(tmp_path):
    result = run_kiln("data", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "kiln init" in result.stderr and "Traceback" not in result.stderr


def test_init_in_the_current_directory(tmp_path):
    run_kiln("init", cwd=tmp_path, check=True)
    assert (tmp_path / ".kiln" / "kiln.toml").exists()
    assert run_kiln("data", "list", "--json", cwd=tmp_path, check=True).stdout.strip() == "[]"


def test_the_lifecycle_through_the_cli(tmp_path, cli):
    run_kiln, kiln_json = cli
    home = init(tmp_path / "ws")
    ingested = kiln_json("data", "ingest", str(CHURN_CSV), "--name", "churn", home=home)
    assert ingested["ref"] == "churn:1" and ingested["row_count"] == 7043 and ingested["created"]
    assert (
        kiln_json("data", "ingest", str(CHURN_CSV), "--name", "churn", home=home)["created"]
        is False
    )
    assert [d["ref"] for d in kiln_json("data", "list", home=home)] == ["churn:1"]
    assert kiln_json("data", "show", "churn:1", home=home)["column_count"] == 20
    assert len(kiln_json("data", "head", "churn", "-n", "4", home=home)) == 4
    counts = kiln_json(
        "data", "query", "SELECT churn, count(*) AS n FROM churn@1 GROUP BY 1 ORDER BY 1", home=home
    )
    assert counts == [{"churn": "No", "n": 5174}, {"churn": "Yes", "n": 1869}]
    parts = kiln_json("data", "split", "churn", "--target", "churn", home=home)
    assert parts["train"]["ref"] == "churn_train:1"

    trained = kiln_json(
        "train",
        "--data",
        "churn",
        "--target",
        "churn",
        "--algorithm",
        "xgboost",
        "--hp",
        "n_estimators=60",
        "--hp",
        "max_depth=3",
        home=home,
    )
    assert set(trained) == {"job", "model", "metrics"}
    assert trained["model"] == "churn:1"
    assert trained["metrics"]["test"]["roc_auc"] > 0.8

    jobs = kiln_json("jobs", "list", home=home)
    assert jobs[0]["id"] == trained["job"] and jobs[0]["status"] == "Completed"
    job = kiln_json("jobs", "show", trained["job"], home=home)
    assert len(job["metric_series"]["validation_logloss"]) >= 1
    logs = run_kiln("jobs", "logs", trained["job"], home=home, check=True).stdout
    assert "Registered model churn:1" in logs

    assert kiln_json("models", "list", home=home)[0]["ref"] == "churn:1"
    assert kiln_json("models", "show", "churn:1", home=home)["signature"]["outputs"]["labels"] == [
        "No",
        "Yes",
    ]
    approved = kiln_json("models", "approve", "churn:1", "--reason", "good enough", home=home)
    assert (
        approved["approval_status"] == "Approved" and approved["approval_reason"] == "good enough"
    )

    deployed = kiln_json("deploy", "churn:1", "--endpoint", "churn", home=home)
    assert deployed["model"] == "churn:1"
    assert kiln_json("endpoints", "list", home=home)[0]["name"] == "churn"
    assert kiln_json("endpoints", "show", "churn", home=home)["history"][0]["revision"] == 1

    output = tmp_path / "scored.csv"
    result = kiln_json(
        "transform", "churn:1", "--input", str(CHURN_CSV), "--output", str(output), home=home
    )
    assert result["rows"] == 7043 and output.exists()

    table = run_kiln("models", "list", home=home, check=True).stdout
    assert "churn:1" in table and "Approved" in table

    served = run_kiln("models", "reject", "churn:1", "--reason", "drift", home=home)
    assert served.returncode == 2 and "served by endpoint(s) churn" in served.stderr
    kiln_json("endpoints", "delete", "churn", "--yes", home=home)
    rejected = kiln_json("models", "reject", "churn:1", "--reason", "drift", home=home)
    assert rejected["approval_status"] == "Rejected"
    refused = run_kiln("deploy", "churn:1", "--endpoint", "other", home=home)
    assert refused.returncode == 2 and "Rejected" in refused.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("data", "show", "nope"), "No data set named 'nope'"),
        (
            ("train", "--data", "churn", "--target", "churn", "--algorithm", "xgbost"),
            "Did you mean 'xgboost'",
        ),
        (
            (
                "train",
                "--data",
                "churn",
                "--target",
                "churn",
                "--algorithm",
                "xgboost",
                "--hp",
                "max_depth=0",
            ),
            "must be an integer in [1, 30]. Got '0'",
        ),
        (
            ("train", "--data", "churn", "--target", "churn", "--algorithm", "linear", "--hp", "C"),
            "key=value",
        ),
        (("models", "approve", "ghost:1"), "No model named 'ghost'"),
        (("jobs", "show", "job-000"), "No job with id"),
        (("data", "query", "SELECT * FROM missing_table"), "The query failed"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(home, args, expected, cli):
    run_kiln, _ = cli
    result = run_kiln(*args, home=home)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_a_job_failing_on_its_data_exits_2_with_the_jobs_code(tmp_path, cli):
    run_kiln, kiln_json = cli
    home = init(tmp_path / "ws", churn=True)
    args = ("--data", "churn", "--target", "contract", "--algorithm", "linear")
    result = run_kiln("train", *args, "--problem-type", "regression", home=home)
    assert result.returncode == 2, result.stderr
    assert "(training.bad-target)" in result.stderr and "not numeric" in result.stderr
    assert "kiln jobs logs" in result.stderr and "Traceback" not in result.stderr
    failed = kiln_json("jobs", "list", "--status", "Failed", home=home)[0]
    shown = kiln_json("jobs", "show", failed["id"], home=home)
    assert (shown["failure_code"], shown["failure_class"]) == ("training.bad-target", "DataError")


def test_broken_csv_through_the_cli(tmp_path, cli):
    run_kiln, _ = cli
    home = init(tmp_path / "ws")
    path = tmp_path / "broken.csv"
    path.write_text("a;b\n1;2\n3;4;5\n")
    result = run_kiln("data", "ingest", str(path), "--name", "broken", home=home)
    assert result.returncode == 2 and "line 3" in result.stderr
    assert run_kiln("data", "show", "broken", home=home).returncode == 2


def test_usage_errors_exit_2(home, cli):
    run_kiln, _ = cli
    result = run_kiln("train", "--data", "churn", home=home)
    assert result.returncode == 2 and "Give --algorithm or --script" in result.stderr


def test_algorithms_list_and_show(cli):
    _, kiln_json = cli
    names = [a["name"] for a in kiln_json("algorithms", "list")]
    assert {"xgboost", "lightgbm", "linear", "random_forest"} <= set(names)
    shown = kiln_json("algorithms", "show", "linear")
    assert "penalty" in [p["name"] for p in shown["hyperparameters"]]
