"""LLM call log: attempt number, run id, time index; static prompt prefixes stored once.

Revision ID: m003
Revises: m002
"""

import sqlalchemy as sa
from alembic import op

revision = "m003"
down_revision = "m002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("run_id", sa.String(), nullable=True))
        batch.create_index("ix_llm_calls_run_id", ["run_id"])
        batch.create_index("ix_llm_calls_created_at", ["created_at"])
    op.create_table(
        "prompt_prefixes",
        sa.Column("hash", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )


def downgrade() -> None:
    op.drop_table("prompt_prefixes")
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_index("ix_llm_calls_created_at")
        batch.drop_index("ix_llm_calls_run_id")
        batch.drop_column("run_id")
        batch.drop_column("attempt")
