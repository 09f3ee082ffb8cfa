"""The model registry: groups, versions, approval, and the model artifact (``TrainedModel``)."""

from kiln.registry._deployments import live_variant, record_revision, write_revision
from kiln.registry._model import (
    TrainedModel,
    library_versions,
    load_model,
    pickled_size,
    set_estimator_threads,
)
from kiln.registry._registry import (
    APPROVED,
    ARCHIVED,
    PENDING,
    REJECTED,
    STATUSES,
    ModelGroup,
    ModelRegistry,
    ModelVersion,
    ModelVersionSummary,
)

__all__ = [
    "APPROVED",
    "ARCHIVED",
    "PENDING",
    "REJECTED",
    "STATUSES",
    "ModelGroup",
    "ModelRegistry",
    "ModelVersion",
    "ModelVersionSummary",
    "TrainedModel",
    "library_versions",
    "live_variant",
    "load_model",
    "pickled_size",
    "record_revision",
    "set_estimator_threads",
    "write_revision",
]
