"""Predictions in the classification snapshot: P(alive), expected purchases, CLV, churn risk and reasons, clusters,
recommendations; the snapshot's model report.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (
    ("p_alive", sa.Float()),
    ("expected_purchases_90d", sa.Float()),
    ("expected_purchases_365d", sa.Float()),
    ("expected_aov_cents", sa.BigInteger()),
    ("clv_365d_cents", sa.BigInteger()),
    ("clv_tier", sa.String(length=8)),
    ("churn_risk", sa.Float()),
    ("churn_reasons", sa.Text()),
    ("cluster", sa.SmallInteger()),
    ("recommendations", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("classification_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("models", sa.JSON(), nullable=True))
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("classification_snapshots", schema=None) as batch_op:
        batch_op.drop_column("models")
