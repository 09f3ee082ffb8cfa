"""The job-kind registry: compute runs and reports jobs by kind without knowing the kinds."""

from __future__ import annotations

import pytest

from kiln.compute import job_kind, job_kinds, register_job_kind
from kiln.errors import ConfigError


def test_the_built_in_kinds_are_registered_by_the_context():
    import kiln.context  # noqa: F401 - registers them

    kinds = {k.name: k for k in job_kinds()}
    assert {"training", "tuning", "automl", "transform"} <= set(kinds)
    assert kinds["training"].id_prefix == "train" and kinds["transform"].report is None
    assert job_kind("training").run_function().__name__ == "run_training_job"
    assert job_kind("automl").report_function().__name__ == "automl_report"


def test_an_unknown_kind_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="Unknown job kind 'nope'.*training") as error:
        job_kind("nope")
    assert error.value.code == "compute.unknown-job-kind"


def test_a_kind_names_its_functions_as_module_function():
    with pytest.raises(ConfigError, match="not a 'module:function'") as error:
        register_job_kind("broken", run="kiln.training.run_training_job")
    assert error.value.code == "compute.bad-job-kind"
    assert "broken" not in {k.name for k in job_kinds()}


def test_a_job_without_a_report_says_which_kinds_have_one(ws):
    job = ws.jobs.create("transform", {})
    ws.jobs.finish(job.id, "Completed", result={})
    reportable = "training, tuning, AutoML, forecasting and training script jobs"
    with pytest.raises(ConfigError, match=reportable):
        ws.report(job.id)
