"""Provider batch jobs (``labelloop label --batch``).

- ``batch_jobs``: one row per file of requests handed to a provider's batch API, written
  before the upload (so a killed submission is found again by its metadata).
- ``batch_job_items``: the items of a batch, each with its cache key (the line's
  ``custom_id``) and the few-shot examples it was shown.

Revision ID: m013
Revises: m012
"""

import sqlalchemy as sa
from alembic import op

revision = "m013"
down_revision = "m012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("api_base", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("provider_batch_id", sa.String(), nullable=True),
        sa.Column("input_file_id", sa.String(), nullable=True),
        sa.Column("output_file_id", sa.String(), nullable=True),
        sa.Column("error_file_id", sa.String(), nullable=True),
        sa.Column("prompt_version", sa.String(), nullable=False),
        sa.Column("guideline_version", sa.String(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("request_counts", sa.JSON(), nullable=True),
        sa.Column("examples", sa.JSON(), nullable=True),
        sa.Column("estimate_usd", sa.Float(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("logged_at", TS, nullable=True),
        sa.Column("collected_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_batch_jobs_model", "batch_jobs", ["model"])
    op.create_table(
        "batch_job_items",
        sa.Column("batch_id", sa.String(), nullable=False),
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("cache_key", sa.String(), nullable=False),
        sa.Column("fewshot", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batch_jobs.id"]),
        sa.PrimaryKeyConstraint("batch_id", "item_id"),
    )
    op.create_index("ix_batch_job_items_item", "batch_job_items", ["item_id"])


def downgrade() -> None:
    op.drop_table("batch_job_items")
    op.drop_table("batch_jobs")
