"""Initial schema: studies, judges, items, assignments, checks, verdicts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("protocol", sa.String(100), nullable=False),
        sa.Column("arms", sa.JSON, nullable=False),
        sa.Column("judgments_per_item", sa.Integer, nullable=False),
        sa.Column("budget", sa.Integer, nullable=True),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("design", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "judges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token", sa.String(100), nullable=False, unique=True),
        sa.Column("seat", sa.Integer, nullable=False),
    )
    op.create_index("ix_judges_study_id", "judges", ["study_id"])
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("is_catch", sa.Boolean, nullable=False),
        sa.Column("problem", sa.JSON, nullable=False),
        sa.Column("artifact", sa.JSON, nullable=False),
        sa.Column("gold", sa.JSON, nullable=True),
        sa.Column("messages", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("study_id", "key"),
    )
    op.create_index("ix_items_study_id", "items", ["study_id"])
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
        sa.Column("judge_id", sa.Integer, sa.ForeignKey("judges.id"), nullable=False),
        sa.Column("arm", sa.String(100), nullable=False),
        sa.Column("order_key", sa.Integer, nullable=False),
        sa.Column("shown_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("item_id", "judge_id"),
    )
    op.create_index("ix_assignments_study_id", "assignments", ["study_id"])
    op.create_index("ix_assignments_item_id", "assignments", ["item_id"])
    op.create_index("ix_assignments_judge_order", "assignments", ["judge_id", "order_key"])
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("assignment_id", sa.Integer, sa.ForeignKey("assignments.id"), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("cost", sa.Integer, nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_checks_assignment_id", "checks", ["assignment_id"])
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "assignment_id",
            sa.Integer,
            sa.ForeignKey("assignments.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("accept", sa.Boolean, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("spent", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("verdicts", "checks", "assignments", "items", "judges", "studies"):
        op.drop_table(table)
