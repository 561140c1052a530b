"""Active time per assignment (when the judge last acted on it, the seconds so far, whether a
time limit closed it), the
answer a verdict chose on a multiple-choice item, and revoked judge links.

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
        batch.add_column(sa.Column("timed_out", sa.Boolean, nullable=False, server_default="0"))
    with op.batch_alter_table("verdicts") as batch:
        batch.add_column(sa.Column("choice", sa.Integer, nullable=True))
    with op.batch_alter_table("judges") as batch:
        batch.add_column(sa.Column("revoked", sa.Boolean, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("judges") as batch:
        batch.drop_column("revoked")
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("choice")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("timed_out")
        batch.drop_column("active_seconds")
        batch.drop_column("seen_at")
