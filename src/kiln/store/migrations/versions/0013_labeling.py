"""Labelling: labelling jobs, their items, and each item's tasks (who was given it and answered
what)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "labeling_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("task", sa.String(20), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("dataset_version", sa.String(40), nullable=True),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("content", sa.String(200), nullable=True),
        sa.Column("annotators_per_item", sa.Integer(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("parent", sa.String(100), nullable=True),
        sa.Column("endpoint", sa.String(100), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("output", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_labeling_jobs_endpoint", "labeling_jobs", ["endpoint"])
    op.create_index("ix_labeling_jobs_created_at", "labeling_jobs", ["created_at"])
    op.create_table(
        "labeling_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("labeling_jobs.id"), nullable=False),
        sa.Column("item", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prior", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("method", sa.String(20), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("job_id", "item", name="uq_labeling_item"),
    )
    op.create_index(
        "ix_labeling_items_next", "labeling_items", ["job_id", "status", "answers", "priority"]
    )
    op.create_table(
        "labeling_tasks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("labeling_jobs.id"), nullable=False),
        sa.Column("item", sa.String(100), nullable=False),
        sa.Column("annotator", sa.String(100), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.UniqueConstraint("job_id", "item", "annotator", name="uq_labeling_task"),
    )
    op.create_index("ix_labeling_tasks_annotator", "labeling_tasks", ["job_id", "annotator"])


def downgrade() -> None:
    op.drop_table("labeling_tasks")
    op.drop_table("labeling_items")
    op.drop_table("labeling_jobs")
