"""Feature store: feature groups, their offline ingests and online records

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_table(
        "feature_groups",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("event_time", sa.String(200), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("ttl_seconds", sa.Float(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "feature_ingests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("group_id", sa.String(40), sa.ForeignKey("feature_groups.id"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("write_time", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_feature_ingests_group_time", "feature_ingests", ["group_id", "write_time"])


def downgrade() -> None:
    op.drop_table("feature_ingests")
    op.drop_table("feature_groups")
