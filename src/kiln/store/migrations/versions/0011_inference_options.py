"""Inference options: per-endpoint configuration (serverless, multi-model, autoscaling,
asynchronous), the durable queue of asynchronous invocations, the record of scaling actions, and
the compiled forms of model versions

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(sa.Column("config", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("compiled", sa.JSON(), nullable=True))
    op.create_table(
        "async_invocations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("input_location", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("output_location", sa.Text(), nullable=False),
        sa.Column("model", sa.String(300), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("webhook", sa.JSON(), nullable=False),
        sa.Column("notifications", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_async_invocations_endpoint", "async_invocations", ["endpoint"])
    op.create_index("ix_async_invocations_status", "async_invocations", ["status"])
    op.create_table(
        "scaling_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("before", sa.Integer(), nullable=False),
        sa.Column("after", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(60), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_scaling_events_endpoint", "scaling_events", ["endpoint"])


def downgrade() -> None:
    op.drop_index("ix_scaling_events_endpoint", "scaling_events")
    op.drop_table("scaling_events")
    op.drop_index("ix_async_invocations_status", "async_invocations")
    op.drop_index("ix_async_invocations_endpoint", "async_invocations")
    op.drop_table("async_invocations")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("compiled")
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("config")
