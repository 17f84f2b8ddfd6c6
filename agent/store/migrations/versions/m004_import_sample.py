"""Imports can be marked as a uniform random sample whose labels may calibrate.

Revision ID: m004
Revises: m003
"""

import sqlalchemy as sa
from alembic import op

revision = "m004"
down_revision = "m003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("imports") as batch:
        batch.add_column(
            sa.Column("sample", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("imports") as batch:
        batch.drop_column("sample")
