"""Several labeling processes on one store: workers, item leases, shared rate limits, jobs.

- ``label_workers``: one row per labeling process (heartbeat, counts, its share of a
  shared budget); workers labeling one model at once form a crew.
- ``label_leases``: an item claimed by a worker for a model until the lease lapses.
- ``rate_grants``: requests granted under a shared rate limit, at the database's clock.
- ``jobs``: label and calibrate jobs queued for ``labelloop worker`` processes.

Revision ID: m012
Revises: m011
"""

import sqlalchemy as sa
from alembic import op

revision = "m012"
down_revision = "m011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "label_workers",
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("crew", sa.String(), nullable=False),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("claimed", sa.Integer(), nullable=False),
        sa.Column("labeled", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("taken_over", sa.Integer(), nullable=False),
        sa.Column("spent_usd", sa.Float(), nullable=False),
        sa.Column("reserved_usd", sa.Float(), nullable=False),
        sa.Column("max_cost", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("holder"),
    )
    op.create_index("ix_label_workers_model", "label_workers", ["model"])
    op.create_table(
        "label_leases",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("model", "item_id"),
    )
    op.create_index("ix_label_leases_holder", "label_leases", ["holder"])
    op.create_table(
        "rate_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rate_grants_bucket_at", "rate_grants", ["bucket", "at"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("args", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=True),
        sa.Column("requested_by", sa.String(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("rate_grants")
    op.drop_table("label_leases")
    op.drop_table("label_workers")
