"""Replies to judge: ``items.replies`` holds the replies a pairwise, rating or ranking task
compares (a JSON list of ``{"id", "content" | "messages", "model"}``); NULL for other items.

Revision ID: m010
Revises: m009
"""

import sqlalchemy as sa
from alembic import op

revision = "m010"
down_revision = "m009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table copy): both backends add a nullable column in place
    op.add_column("items", sa.Column("replies", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("replies")
