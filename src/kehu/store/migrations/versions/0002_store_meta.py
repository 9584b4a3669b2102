"""store_meta: counters kept with the data (the orders revision that the analytics mirror follows)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "store_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.bulk_insert(meta, [{"key": "orders_revision", "value": 0}])


def downgrade() -> None:
    op.drop_table("store_meta")
