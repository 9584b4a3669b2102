"""classification_snapshots.message: the writing process while building, then why it failed

So a classification killed while writing its rows can be found and reported failed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("classification_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("classification_snapshots", schema=None) as batch_op:
        batch_op.drop_column("message")
