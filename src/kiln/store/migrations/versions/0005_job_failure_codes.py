"""Job failure codes: the code and kiln.errors class of the error a job failed with

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("failure_code", sa.String(100), nullable=True))
        batch.add_column(sa.Column("failure_class", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("failure_class")
        batch.drop_column("failure_code")
