"""Deployment in depth: capture settings and the running deployment on each endpoint; the
strategy, job and outcome of each deployment revision; per-variant serving metrics; API keys;
ground truth labels by inference id

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def _histogram_columns() -> list[sa.Column]:
    return [
        sa.Column("model_latency", sa.JSON(), nullable=False),
        sa.Column("overhead_latency", sa.JSON(), nullable=False),
        sa.Column("predictions", sa.JSON(), nullable=False),
        sa.Column("comparison", sa.JSON(), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(sa.Column("capture", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("active_deployment", sa.String(40), nullable=True))
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("strategy", sa.String(100), nullable=True))
        batch.add_column(sa.Column("job_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(40), nullable=True))
    op.create_table(
        "variant_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("period_seconds", sa.Float(), nullable=False),
        sa.Column("worker", sa.String(300), nullable=False),
        sa.Column("invocations", sa.Integer(), nullable=False),
        sa.Column("errors_4xx", sa.Integer(), nullable=False),
        sa.Column("errors_5xx", sa.Integer(), nullable=False),
        *_histogram_columns(),
    )
    op.create_index(
        "ix_variant_metrics_endpoint_period", "variant_metrics", ["endpoint", "period_start"]
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("endpoint", sa.String(200), nullable=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("rate_limit", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "ground_truth",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("inference_id", sa.String(64), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("endpoint", "inference_id", name="uq_ground_truth_inference"),
    )
    op.create_index("ix_ground_truth_endpoint", "ground_truth", ["endpoint"])


def downgrade() -> None:
    op.drop_index("ix_ground_truth_endpoint", "ground_truth")
    op.drop_table("ground_truth")
    op.drop_table("api_keys")
    op.drop_index("ix_variant_metrics_endpoint_period", "variant_metrics")
    op.drop_table("variant_metrics")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("outcome")
        batch.drop_column("job_id")
        batch.drop_column("strategy")
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("active_deployment")
        batch.drop_column("capture")
