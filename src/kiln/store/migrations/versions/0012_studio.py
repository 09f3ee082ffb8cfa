"""Studio: users with roles, their login tokens and browser sessions, the audit log of every
state change made through Studio, and the indexes its paged lists sort by

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "user_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("csrf", sa.String(64), nullable=True),
    )
    op.create_index("ix_user_tokens_user_id", "user_tokens", ["user_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_user", "audit_events", ["user"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_index("ix_jobs_started_at", "jobs", ["started_at"])
    # The job list filtered by kind or status, or to top-level jobs (no parent), newest first; and
    # a job's children.
    op.create_index("ix_jobs_kind_created_at", "jobs", ["kind", "created_at"])
    op.create_index("ix_jobs_status_created_at", "jobs", ["status", "created_at"])
    op.create_index("ix_jobs_parent_id_created_at", "jobs", ["parent_id", "created_at"])
    op.create_index("ix_model_versions_created_at", "model_versions", ["created_at"])
    op.create_index("ix_dataset_versions_created_at", "dataset_versions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_dataset_versions_created_at", "dataset_versions")
    op.drop_index("ix_model_versions_created_at", "model_versions")
    op.drop_index("ix_jobs_parent_id_created_at", "jobs")
    op.drop_index("ix_jobs_status_created_at", "jobs")
    op.drop_index("ix_jobs_kind_created_at", "jobs")
    op.drop_index("ix_jobs_started_at", "jobs")
    op.drop_index("ix_jobs_created_at", "jobs")
    op.drop_table("audit_events")
    op.drop_table("user_tokens")
    op.drop_table("users")
