"""kiln deploy and kiln endpoints through the CLI (in process): variants, weights, shadows,
history, rollback, a guarded deployment, and the exit status and message of bad input."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def run_kiln(run_cli):
    return run_cli


@pytest.fixture
def kiln_json(run_kiln):
    def run(*args, home):
        result = run_kiln(*args, "--json", home=home)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    return run


def test_variants_weights_history_and_rollback(two_models_copy, run_kiln, kiln_json, tmp_path):
    ws, first, second = two_models_copy
    home = ws.home
    added = kiln_json(
        "deploy",
        second,
        "--endpoint",
        "churn",
        "--variant",
        "green",
        "--weight",
        "0.25",
        home=home,
    )
    assert added["shares"] == {"primary": 0.8, "green": 0.2}
    shown = run_kiln("endpoints", "show", "churn", home=home)
    assert shown.returncode == 0
    assert "green" in shown.stdout and "20%" in shown.stdout and "80%" in shown.stdout
    assert "no requests recorded" in shown.stdout
    as_json = kiln_json("endpoints", "show", "churn", home=home)
    assert as_json["metrics"] == {"window_seconds": 300.0, "variants": {}}
    assert [v["name"] for v in as_json["variants"]] == ["primary", "green"]
    updated = kiln_json("endpoints", "update", "churn", "--weights", "primary=1,green=3", home=home)
    assert updated["shares"] == {"primary": 0.25, "green": 0.75}
    shadow = kiln_json(
        "deploy", first, "--endpoint", "churn", "--shadow", "--sample", "10%", home=home
    )
    assert shadow["variants"][-1] | {"role": "shadow", "sample": 0.1} == shadow["variants"][-1]
    report = run_kiln(
        "endpoints", "shadow-report", "churn", "--out", str(tmp_path / "s.html"), home=home
    )
    assert report.returncode == 0 and (tmp_path / "s.html").exists()
    compared = kiln_json("endpoints", "compare", "churn", home=home)
    assert compared["variants"] == {}
    history = kiln_json("endpoints", "history", "churn", home=home)
    assert [h["revision"] for h in history] == [1, 2, 3, 4]
    assert history[2]["note"] == "update primary=1, green=3"
    rolled = kiln_json("endpoints", "rollback", "churn", "--to", "1", home=home)
    assert [(v["name"], v["model"]) for v in rolled["variants"]] == [("primary", first)]
    text = run_kiln("endpoints", "history", "churn", home=home).stdout
    assert "rollback to revision 1" in text


def test_a_guarded_deployment_from_the_cli(two_models_copy, run_kiln):
    ws, _, second = two_models_copy
    result = run_kiln(
        "deploy", second, "--endpoint", "churn", "--strategy", "blue-green:1s", home=ws.home
    )
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout and "churn_2" in result.stdout
    history = ws.endpoints.history("churn")
    assert history[-1]["outcome"] == "completed" and history[-1]["strategy"] == "blue-green:1s"


@pytest.mark.parametrize(
    ("args", "code", "shown"),
    [
        (["--strategy", "canary:10%"], "endpoints.bad-strategy", "canary:PERCENT%:BAKE"),
        (["--strategy", "canary:10%:1m", "--alarm", "p99>5"], "endpoints.bad-alarm", "p99>5"),
        (["--variant", "green", "--weight", "-1"], "endpoints.bad-weight", "-1"),
        (["--shadow", "--sample", "lots"], "endpoints.bad-sample", "lots"),
        (["--variant", "not a name"], "name.invalid", "not a name"),
    ],
)
def test_bad_deploy_options_exit_2_with_what_was_wrong(
    two_models_copy, run_kiln, args, code, shown
):
    ws, _, second = two_models_copy
    result = run_kiln("deploy", second, "--endpoint", "churn", *args, home=ws.home)
    assert result.returncode == 2
    assert code in result.stderr and shown in result.stderr
    assert ws.endpoints.get("churn").revision == 1
    update = run_kiln("endpoints", "update", "churn", "--weights", "blue=1", home=ws.home)
    assert update.returncode == 2 and "endpoints.unknown-variant" in update.stderr
