"""Membership tiers, tier history and the points ledger.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_tiers",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_index("ix_member_tiers_tier", "member_tiers", ["tier"])
    op.create_table(
        "tier_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("changed_on", sa.Date(), nullable=False),
        sa.Column("from_tier", sa.String(length=16), nullable=False),
        sa.Column("to_tier", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "changed_on", name="uq_tier_changes_customer_day"),
    )
    op.create_index("ix_tier_changes_changed_on", "tier_changes", ["changed_on"])
    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("basis_cents", sa.BigInteger(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("uncovered", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "seq", name="uq_points_ledger_customer_seq"),
        sa.UniqueConstraint("ref"),
    )
    op.create_index("ix_points_ledger_order_kind", "points_ledger", ["order_id", "kind"])
    op.create_index("ix_points_ledger_kind_at", "points_ledger", ["kind", "at"])
    op.create_table(
        "membership_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_membership_runs_as_of", "membership_runs", ["as_of"])


def downgrade() -> None:
    op.drop_index("ix_membership_runs_as_of", table_name="membership_runs")
    op.drop_table("membership_runs")
    op.drop_index("ix_points_ledger_kind_at", table_name="points_ledger")
    op.drop_index("ix_points_ledger_order_kind", table_name="points_ledger")
    op.drop_table("points_ledger")
    op.drop_index("ix_tier_changes_changed_on", table_name="tier_changes")
    op.drop_table("tier_changes")
    op.drop_index("ix_member_tiers_tier", table_name="member_tiers")
    op.drop_table("member_tiers")
