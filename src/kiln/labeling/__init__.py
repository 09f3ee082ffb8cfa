"""Labelling: jobs that hand items to annotators, consolidate their answers, label the
confident rest automatically, and write the labels as a data set version; and human review of
an endpoint's low-confidence predictions."""

from kiln.labeling._consolidate import Consolidation, consolidate_answers
from kiln.labeling._jobs import (
    KINDS,
    LEASE_SECONDS,
    TASKS,
    LabelingItem,
    LabelingJob,
    LabelingTask,
    check_answer,
)
from kiln.labeling._service import LabelingService
from kiln.labeling._workflow import OUTPUT_COLUMNS

__all__ = [
    "KINDS",
    "LEASE_SECONDS",
    "OUTPUT_COLUMNS",
    "TASKS",
    "Consolidation",
    "LabelingItem",
    "LabelingJob",
    "LabelingService",
    "LabelingTask",
    "check_answer",
    "consolidate_answers",
]
