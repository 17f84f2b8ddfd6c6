"""Route history: items per route over time, for the dashboard's burndown.

- ``route_history``: one row per (moment, route) with the items on that route then.

The first moment is the upgrade itself (the counts as they stand), so a store that already
holds items has a history from the day it was upgraded.

Revision ID: m016
Revises: m015
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "m016"
down_revision = "m015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    history = op.create_table(
        "route_history",
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("at", "route"),
    )
    c = op.get_bind()
    routes = sa.table("routes", sa.column("route", sa.String()))
    items = sa.table("items", sa.column("id", sa.String()))
    q = sa.select(routes.c.route, sa.func.count()).group_by(routes.c.route)
    counts = {route: n for route, n in c.execute(q)}
    total = c.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
    if not total:
        return
    counts["unlabeled"] = counts.get("unlabeled", 0) + total - sum(counts.values())
    now = datetime.now(UTC)
    op.bulk_insert(history, [{"at": now, "route": r, "items": n} for r, n in counts.items()])


def downgrade() -> None:
    op.drop_table("route_history")
