"""Segments and profile tags, membership of each snapshot.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_tag", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("builtin"),
    )
    op.create_table(
        "segment_members",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["snapshot_id"], ["classification_snapshots.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["segment_id"], ["segments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("snapshot_id", "segment_id", "customer_id"),
    )
    op.create_table(
        "segment_sizes",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["segment_id"], ["segments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["classification_snapshots.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("segment_id", "snapshot_id"),
    )
    op.create_table(
        "segment_traits",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("discount_share", sa.Float(), nullable=True),
        sa.Column("price_rank", sa.Float(), nullable=True),
        sa.Column("complaints_180d", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["snapshot_id"], ["classification_snapshots.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("snapshot_id", "customer_id"),
    )
    op.create_table(
        "segment_refreshes",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("traits_at", sa.DateTime(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["snapshot_id"], ["classification_snapshots.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("snapshot_id"),
    )


def downgrade() -> None:
    op.drop_table("segment_refreshes")
    op.drop_table("segment_traits")
    op.drop_table("segment_sizes")
    op.drop_table("segment_members")
    op.drop_table("segments")
