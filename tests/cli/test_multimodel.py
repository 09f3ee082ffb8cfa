"""kiln deploy --multi-model and the endpoint commands on a multi-model endpoint, in process."""

from __future__ import annotations

import json

from helpers import table_rows


def test_deploy_list_show_and_delete_a_multi_model_endpoint(two_models_copy, run_cli):
    ws, first, _ = two_models_copy
    home = ws.home
    made = run_cli(
        "deploy", "--endpoint", "many", "--multi-model", "--memory-budget", "1GB", home=home
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Multi-model endpoint many revision 1: Approved versions of every group, within " in (
        made.stdout
    )
    assert "1.0GB" in made.stdout and "x-kiln-target-model: GROUP:VERSION" in made.stdout
    changed = run_cli(
        "deploy",
        first,
        "--endpoint",
        "many",
        "--multi-model",
        "--groups",
        "churn",
        "--json",
        home=home,
    )
    assert changed.returncode == 0, changed.stdout + changed.stderr
    record = json.loads(changed.stdout)
    assert record["model"] is None and record["variants"] == [] and record["revision"] == 2
    assert record["config"]["multi_model"] == {
        "memory_budget": 10**9,
        "groups": ["churn"],
        "allow_unapproved": False,
    }
    listed = run_cli("endpoints", "list", home=home)
    assert listed.returncode == 0
    assert ["many", "multi-model"] in [row[:2] for row in table_rows(listed.stdout)]
    shown = run_cli("endpoints", "show", "many", home=home)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Approved versions of churn, within 1.0GB" in shown.stdout
    assert "/endpoints/many/models/GROUP/VERSION/invocations" in shown.stdout
    assert (
        json.loads(run_cli("endpoints", "show", "many", "--json", home=home).stdout)["model"]
        is None
    )
    deleted = run_cli("endpoints", "delete", "many", "--yes", home=home)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "its models stay" in deleted.stdout


def test_variant_commands_and_bad_settings_are_refused(two_models_copy, run_cli):
    ws, first, _ = two_models_copy
    home = ws.home
    ws.endpoints.deploy(endpoint="many", multi_model=True)
    for args, code in [
        (("endpoints", "update", "many", "--weights", "primary=1"), "multimodel.not-supported"),
        (("deploy", first, "--endpoint", "many"), "multimodel.not-supported"),
        (("deploy", "--endpoint", "x", "--multi-model", "--memory-budget", "lots"), None),
        (("deploy", first, "--endpoint", "x", "--groups", "churn"), None),
        (("deploy", "--endpoint", "x"), None),
    ]:
        result = run_cli(*args, home=home)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "error:" in result.stderr
        if code:
            assert f"({code})" in result.stderr and "is a multi-model endpoint" in result.stderr
    assert (
        "multimodel.bad-budget"
        in run_cli(
            "deploy", "--endpoint", "x", "--multi-model", "--memory-budget", "lots", home=home
        ).stderr
    )
    assert ws.endpoints.get("many").revision == 1 and "x" not in ws.endpoints.revisions()
