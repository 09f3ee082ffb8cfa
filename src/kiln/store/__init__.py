"""The metadata store: one SQL database (SQLite embedded, PostgreSQL for teams)."""

from kiln.store._db import SCHEMA_REVISION, Record, Store, link, new_id, now, who
from kiln.store._tables import (
    DatasetProfileRow,
    DatasetVersionRow,
    DeploymentRow,
    EndpointRow,
    ExperimentRow,
    JobLogRow,
    JobMetricRow,
    JobRow,
    LineageRow,
    ModelAliasRow,
    ModelApprovalEventRow,
    ModelGroupRow,
    ModelVersionRow,
)

__all__ = [
    "SCHEMA_REVISION",
    "DatasetProfileRow",
    "DatasetVersionRow",
    "DeploymentRow",
    "EndpointRow",
    "ExperimentRow",
    "JobLogRow",
    "JobMetricRow",
    "JobRow",
    "LineageRow",
    "Record",
    "ModelAliasRow",
    "ModelApprovalEventRow",
    "ModelGroupRow",
    "ModelVersionRow",
    "Store",
    "link",
    "new_id",
    "now",
    "who",
]
