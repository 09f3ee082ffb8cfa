"""Monitoring: baselines, monitors and their runs, alarms and their history, and the scheduler's
schedules with their leases

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("dataset_version_id", sa.String(40), nullable=False),
        sa.Column("model", sa.String(300), nullable=True),
        sa.Column("statistics", sa.JSON(), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_baselines_dataset_version_id", "baselines", ["dataset_version_id"])
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("baseline_id", sa.String(40), nullable=True),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("window_seconds", sa.Float(), nullable=False),
        sa.Column("offset_seconds", sa.Float(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_monitors_endpoint", "monitors", ["endpoint"])
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("monitor", sa.String(200), nullable=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("window_start", sa.DateTime(), nullable=True),
        sa.Column("window_end", sa.DateTime(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("report_digest", sa.String(64), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_monitor_runs_monitor_started", "monitor_runs", ["monitor", "started_at"])
    op.create_table(
        "alarms",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("condition", sa.String(300), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "alarm_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alarm", sa.String(200), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("old_state", sa.String(30), nullable=False),
        sa.Column("new_state", sa.String(30), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alarm_events_alarm", "alarm_events", ["alarm"])
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("expression", sa.String(100), nullable=False),
        sa.Column("next_run_at", sa.DateTime(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_job_id", sa.String(40), nullable=True),
        sa.Column("lease_owner", sa.String(300), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedules")
    op.drop_index("ix_alarm_events_alarm", "alarm_events")
    op.drop_table("alarm_events")
    op.drop_table("alarms")
    op.drop_index("ix_monitor_runs_monitor_started", "monitor_runs")
    op.drop_table("monitor_runs")
    op.drop_index("ix_monitors_endpoint", "monitors")
    op.drop_table("monitors")
    op.drop_index("ix_baselines_dataset_version_id", "baselines")
    op.drop_table("baselines")
