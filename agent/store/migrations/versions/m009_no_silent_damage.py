"""Decisions that cannot be mistaken: bulk accepts that can be undone, reviews that know
when their item moved under them, and one labeling run per model at a time.

- ``bulk_actions``: one row per bulk accept in the item browser (who, the filters, how many,
  when it was undone); ``reviews.bulk_id`` names the bulk accept a review belongs to.
- ``reviews.route_changed``: the item's route changed while it was leased to the reviewer;
  the decision is kept, but it never becomes a calibration pair.
- ``run_locks``: a labeling run holds its model's lock (renewed while it works) so a second
  run on the same store and model refuses to start instead of paying for every item again.

Revision ID: m009
Revises: m008
"""

import sqlalchemy as sa
from alembic import op

revision = "m009"
down_revision = "m008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    # plain ADD COLUMN (no table copy): both backends add a nullable or defaulted column
    op.add_column("reviews", sa.Column("bulk_id", sa.Integer(), nullable=True))
    op.add_column(
        "reviews",
        sa.Column("route_changed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_reviews_bulk_id", "reviews", ["bulk_id"])
    op.create_table(
        "run_locks",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("run_locks")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_index("ix_reviews_bulk_id")
        batch.drop_column("route_changed")
        batch.drop_column("bulk_id")
    op.drop_table("bulk_actions")
