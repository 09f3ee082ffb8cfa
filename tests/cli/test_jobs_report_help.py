"""``kiln jobs report --help`` names every kind of job that has a report."""

from __future__ import annotations

from helpers import run_kiln


def test_jobs_report_help_names_every_kind_of_job_with_a_report():
    import kiln.context  # noqa: F401  (registers the built-in job kinds)
    from kiln.compute import job_kinds

    reportable = [kind.title for kind in job_kinds() if kind.report]
    assert len(reportable) >= 3  # training, tuning, AutoML
    help_text = " ".join(run_kiln("jobs", "report", "--help", check=True).stdout.split())
    for title in reportable:
        assert f"{title} job" in help_text or f"{title}," in help_text, title
    assert "A completed training job." not in help_text
