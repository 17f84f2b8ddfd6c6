"""Calibration and routing per question (a guideline that asks several questions).

- ``routes.accepted``: the questions auto-accepted on the item (a JSON list of names);
  NULL for one-question guidelines and for items with none accepted.
- ``calibration_runs.question``: the question a run calibrated; NULL for a run on the item
  as a whole.

Revision ID: m011
Revises: m010
"""

import sqlalchemy as sa
from alembic import op

revision = "m011"
down_revision = "m010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table copy): both backends add a nullable column in place
    op.add_column("routes", sa.Column("accepted", sa.JSON(), nullable=True))
    op.add_column("calibration_runs", sa.Column("question", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calibration_runs") as batch:
        batch.drop_column("question")
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("accepted")
