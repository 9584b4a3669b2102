"""classification_snapshots.summary: key figures and monthly revenue computed with the snapshot

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 08:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("classification_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summary", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("classification_snapshots", schema=None) as batch_op:
        batch_op.drop_column("summary")
