"""Label mappings (rename, merge, split), eval-set gold labels and eval runs; an index
in import order so items are read page by page without sorting the table for each page.

Revision ID: m007
Revises: m004
"""

import sqlalchemy as sa
from alembic import op

revision = "m007"
down_revision = "m006"
branch_labels = None
depends_on = None


#: the items' import order, NULL-safe (items not from a file have no import or line)
ITEM_ORDER = [sa.text("coalesce(import_id, -1)"), sa.text("coalesce(line, -1)"), "id"]


def upgrade() -> None:
    op.create_index("ix_items_import_order", "items", ITEM_ORDER, unique=False)
    op.create_table(
        "label_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=True),
        sa.Column("guideline_before", sa.String(), nullable=False),
        sa.Column("guideline_after", sa.String(), nullable=False),
        sa.Column("reviews_mapped", sa.Integer(), nullable=False),
        sa.Column("suggestions_mapped", sa.Integer(), nullable=False),
        sa.Column("items_reopened", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("eval_sets") as batch:
        batch.add_column(
            sa.Column("guideline_version", sa.String(), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
    with op.batch_alter_table("eval_set_items") as batch:
        batch.add_column(sa.Column("gold", sa.JSON(), nullable=True))
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("eval_set_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("prompt_version", sa.String(), nullable=False),
        sa.Column("guideline_version", sa.String(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["eval_set_id"], ["eval_sets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_eval_runs_eval_set_id", "eval_runs", ["eval_set_id"], unique=False)
    op.create_table(
        "eval_run_items",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["eval_runs.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("run_id", "item_id"),
    )


def downgrade() -> None:
    op.drop_index("ix_items_import_order", table_name="items")
    op.drop_table("eval_run_items")
    op.drop_index("ix_eval_runs_eval_set_id", table_name="eval_runs")
    op.drop_table("eval_runs")
    with op.batch_alter_table("eval_set_items") as batch:
        batch.drop_column("gold")
    with op.batch_alter_table("eval_sets") as batch:
        batch.drop_column("params")
        batch.drop_column("guideline_version")
    op.drop_table("label_mappings")
