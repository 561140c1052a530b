"""Active time per assignment: when the judge was last seen on it and the seconds so far.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("seen_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("active_seconds", sa.Float, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("active_seconds")
        batch.drop_column("seen_at")
