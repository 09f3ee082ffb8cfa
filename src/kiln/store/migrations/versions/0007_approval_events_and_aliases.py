"""Every approval decision kept (who, when, status, why), model aliases (churn@production), and
why a deployment revision was made (a rollback, an unapproved deploy)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "model_approval_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "model_version_id", sa.String(40), sa.ForeignKey("model_versions.id"), nullable=False
        ),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index(
        "ix_model_approval_events_model_version_id",
        "model_approval_events",
        ["model_version_id"],
    )
    # The decision each version carries so far is its first recorded event.
    op.execute(
        "INSERT INTO model_approval_events (model_version_id, status, reason, created_at, "
        "created_by) SELECT id, approval_status, COALESCE(approval_reason, ''), approval_at, "
        "COALESCE(approval_by, created_by) FROM model_versions WHERE approval_at IS NOT NULL"
    )
    op.create_table(
        "model_aliases",
        sa.Column("group", sa.String(200), sa.ForeignKey("model_groups.name"), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column(
            "model_version_id", sa.String(40), sa.ForeignKey("model_versions.id"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )

    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("note")
    op.drop_table("model_aliases")
    op.drop_index("ix_model_approval_events_model_version_id", "model_approval_events")
    op.drop_table("model_approval_events")
