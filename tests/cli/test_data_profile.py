"""``kiln data profile`` through the real CLI."""

from __future__ import annotations

import json


def test_profile_cli_json_report_reuse_and_errors(tmp_path, churn_csv, run_cli):
    import kiln

    home = tmp_path / "ws"
    workspace = kiln.Workspace.init(home)  # set up in-process: the CLI under test is profile
    workspace.data.ingest(churn_csv, name="churn")
    workspace.close()
    out = tmp_path / "report.html"
    result = run_cli(
        "data",
        "profile",
        "churn",
        "--target",
        "churn",
        "--out",
        str(out),
        "--json",
        "--sample-rows",
        "3000",
        home=home,
        check=True,
    )
    facts = json.loads(result.stdout)
    assert facts["report"] == str(out) and out.stat().st_size < 5_000_000
    assert facts["dataset"] == "churn:1" and facts["reused"] is False
    assert facts["quick_model"]["status"] == "ok"
    assert [w["kind"] for w in facts["warnings"]] == ["duplicate-rows"]

    human = run_cli(
        "data",
        "profile",
        "churn:1",
        "--target",
        "churn",
        "--sample-rows",
        "3000",
        home=home,
        check=True,
    )
    assert "(stored, reused)" in human.stdout and "duplicate-rows" in human.stdout
    page = (home / "reports" / "profile_churn_1_churn.html").read_text("utf-8")
    assert "<h2>Target: churn" in page and "7,043" in page  # the stored report, all rows counted

    bad_target = run_cli("data", "profile", "churn", "--target", "chrun", home=home)
    assert bad_target.returncode == 2
    assert "no column 'chrun'" in bad_target.stderr + bad_target.stdout
    assert "profile.unknown-target" in bad_target.stderr + bad_target.stdout

    unknown = run_cli("data", "profile", "nope", home=home)
    assert unknown.returncode == 2
    assert "No data set named 'nope'" in unknown.stderr + unknown.stdout

    shown = json.loads(run_cli("data", "show", "churn", "--json", home=home, check=True).stdout)
    assert [(p["target"], p["warnings"]) for p in shown["profiles"]] == [("churn", 1)]
    text = run_cli("data", "show", "churn", home=home, check=True).stdout
    assert "target churn (1 warning," in text
