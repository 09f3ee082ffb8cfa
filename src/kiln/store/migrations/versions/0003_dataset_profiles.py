"""Dataset profiles: the stored profile of a data set version, per target

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "dataset_profiles",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dataset_version_id", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("json_digest", sa.String(length=64), nullable=False),
        sa.Column("html_digest", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["dataset_version_id"], ["dataset_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_version_id", "target", name="uq_profile_version_target"),
    )
    op.create_index(
        "ix_dataset_profiles_dataset_version_id", "dataset_profiles", ["dataset_version_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_dataset_profiles_dataset_version_id", table_name="dataset_profiles")
    op.drop_table("dataset_profiles")
