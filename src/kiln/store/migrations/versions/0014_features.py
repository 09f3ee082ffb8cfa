"""Feature store: feature groups, their offline ingests and online records

Revision ID: 0014
Revises: 0013
"""

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
