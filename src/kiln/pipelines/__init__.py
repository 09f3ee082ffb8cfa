"""Pipelines: DAGs of kiln's steps (ingest, processing, train, evaluate, condition, approve,
deploy, monitor, ...) defined in YAML or Python, run as jobs with a cache, retries and resume.
See docs/pipelines.md."""

from kiln.pipelines._definition import (
    PARAMETER_TYPES,
    Parameter,
    Pipeline,
    Step,
    convert_parameter,
    load_pipeline,
)
from kiln.pipelines._execution import run_pipeline_job
from kiln.pipelines._service import (
    Execution,
    PipelineService,
    PipelineVersion,
    StepRecord,
    start_scheduled_pipeline,
)
from kiln.pipelines._steps import STEP_TYPES, StepRun, StepType

__all__ = [
    "PARAMETER_TYPES",
    "STEP_TYPES",
    "Execution",
    "Parameter",
    "Pipeline",
    "PipelineService",
    "PipelineVersion",
    "Step",
    "StepRecord",
    "StepRun",
    "StepType",
    "convert_parameter",
    "load_pipeline",
    "run_pipeline_job",
    "start_scheduled_pipeline",
]
