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
from kiln.labeling._review import (
    REVIEW_SECTION,
    ReviewCondition,
    confidence_of,
    parse_condition,
    parse_sample,
    rows_for_review,
)
from kiln.labeling._service import LabelingService
from kiln.labeling._workflow import OUTPUT_COLUMNS

__all__ = [
    "KINDS",
    "LEASE_SECONDS",
    "REVIEW_SECTION",
    "OUTPUT_COLUMNS",
    "TASKS",
    "Consolidation",
    "LabelingItem",
    "LabelingJob",
    "LabelingService",
    "LabelingTask",
    "ReviewCondition",
    "check_answer",
    "confidence_of",
    "parse_condition",
    "parse_sample",
    "rows_for_review",
    "consolidate_answers",
]
