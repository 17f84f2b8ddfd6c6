"""Review console: undo and bulk marks on reviews, gold answers, browser columns and indexes,
and a text-search index (SQLite FTS5; PostgreSQL trigrams).

Revision ID: m006
Revises: m005
"""

import sqlalchemy as sa
from alembic import op

revision = "m006"
down_revision = "m005"
branch_labels = None
depends_on = None

#: what text search sees of an item: its text, or the contents of its turns
SQLITE_BODY = (
    "coalesce({t}.text, (SELECT group_concat(json_extract(m.value, '$.content'), ' ') "
    "FROM json_each({t}.messages) AS m))"
)
PG_BODY = "coalesce(text, messages::text, '')"


def upgrade() -> None:
    op.add_column("reviews", sa.Column("supersedes", sa.Integer(), nullable=True))
    op.add_column(
        "reviews", sa.Column("bulk", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index("ix_reviews_supersedes", "reviews", ["supersedes"])
    op.create_index("ix_reviews_created_at", "reviews", ["created_at"])
    op.create_index("ix_reviews_item_reviewer", "reviews", ["item_id", "reviewer"])
    op.create_index("ix_reviews_reviewer_id", "reviews", ["reviewer", "id"])
    op.add_column("routes", sa.Column("label", sa.String(), nullable=True))
    op.add_column("routes", sa.Column("confidence", sa.Float(), nullable=True))
    op.drop_index("ix_routes_route_priority", table_name="routes")
    op.create_index("ix_routes_queue_order", "routes", ["route", "priority", "item_id"])
    op.create_index("ix_routes_route_item", "routes", ["route", "item_id"])
    op.create_index("ix_routes_label_item", "routes", ["label", "item_id"])
    op.create_index("ix_leases_reviewer", "leases", ["reviewer", "leased_at"])
    op.execute("DELETE FROM leases")  # leases of the old console: at most a lease's wait
    op.create_index(
        "ux_leases_one_holder",
        "leases",
        ["item_id"],
        unique=True,
        sqlite_where=sa.text("queue != 'gold'"),
        postgresql_where=sa.text("queue != 'gold'"),
    )
    op.create_table(
        "gold_labels",
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )
    _backfill_route_columns()
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_fts()
    else:
        _postgres_trigrams()


def _backfill_route_columns() -> None:
    """Routes made before this revision get the browser's label and confidence."""
    if op.get_bind().dialect.name == "sqlite":
        label = "json_extract(s.value, '$.label')"
    else:
        label = "(s.value ->> 'label')"
    op.execute(
        f"UPDATE routes SET label = (SELECT {label} FROM suggestions s "
        "WHERE s.id = routes.suggestion_id), confidence = (SELECT coalesce(s.calibrated, "
        "s.confidence) FROM suggestions s WHERE s.id = routes.suggestion_id) "
        "WHERE suggestion_id IS NOT NULL"
    )


def _sqlite_fts() -> None:
    # contentless: the words are indexed, the text stays in items only; rowid = items.rowid
    op.execute("CREATE VIRTUAL TABLE items_fts USING fts5(body, content='')")
    op.execute(
        "CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN "
        f"INSERT INTO items_fts(rowid, body) VALUES (new.rowid, {SQLITE_BODY.format(t='new')}); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
        "INSERT INTO items_fts(items_fts, rowid, body) "
        f"VALUES ('delete', old.rowid, {SQLITE_BODY.format(t='old')}); END"
    )
    op.execute(
        f"INSERT INTO items_fts(rowid, body) SELECT rowid, {SQLITE_BODY.format(t='items')} "
        "FROM items"
    )


def _postgres_trigrams() -> None:
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        # without the extension text search still works, as a scan
        return
    op.execute(f"CREATE INDEX ix_items_search ON items USING gin (({PG_BODY}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS items_fts_insert")
        op.execute("DROP TRIGGER IF EXISTS items_fts_delete")
        op.execute("DROP TABLE IF EXISTS items_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_items_search")
    op.drop_table("gold_labels")
    op.drop_index("ux_leases_one_holder", table_name="leases")
    op.drop_index("ix_leases_reviewer", table_name="leases")
    op.drop_index("ix_routes_label_item", table_name="routes")
    op.drop_index("ix_routes_route_item", table_name="routes")
    op.drop_index("ix_routes_queue_order", table_name="routes")
    op.create_index("ix_routes_route_priority", "routes", ["route", "priority"])
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("confidence")
        batch.drop_column("label")
    op.drop_index("ix_reviews_reviewer_id", table_name="reviews")
    op.drop_index("ix_reviews_item_reviewer", table_name="reviews")
    op.drop_index("ix_reviews_created_at", table_name="reviews")
    op.drop_index("ix_reviews_supersedes", table_name="reviews")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("bulk")
        batch.drop_column("supersedes")
