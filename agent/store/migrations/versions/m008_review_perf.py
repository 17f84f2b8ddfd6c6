"""Review performance: word search on PostgreSQL as on SQLite, and a label index that
answers a confidence range without reading the table.

PostgreSQL text search becomes a phrase of whole words, case-insensitive, as SQLite FTS5
does: a stored ``tsvector`` column (``simple`` configuration: no stemming, no stop words)
with a GIN index replaces the trigram index of m006, whose candidate lists for phrases of
common words cost hundreds of milliseconds at 1M items.

Revision ID: m008
Revises: m006
"""

from alembic import op

from labelloop.store.migrations.versions import m006_review_console as m006

revision = "m008"
down_revision = "m007"
branch_labels = None
depends_on = None

#: what word search sees of an item: its text, or the contents of its turns
PG_WORDS = (
    "to_tsvector('simple'::regconfig, coalesce(text, '') || ' ' || "
    "coalesce(jsonb_path_query_array(messages::jsonb, '$[*].content')::text, ''))"
)


def upgrade() -> None:
    op.create_index("ix_routes_label_item_conf", "routes", ["label", "item_id", "confidence"])
    op.drop_index("ix_routes_label_item", table_name="routes")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE items ADD COLUMN words tsvector GENERATED ALWAYS AS ({PG_WORDS}) STORED"
        )
        op.execute("CREATE INDEX ix_items_words ON items USING gin (words)")
        op.execute("DROP INDEX IF EXISTS ix_items_search")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_words")
        op.execute("ALTER TABLE items DROP COLUMN IF EXISTS words")
        m006._postgres_trigrams()  # the index this revision replaced
    op.create_index("ix_routes_label_item", "routes", ["label", "item_id"])
    op.drop_index("ix_routes_label_item_conf", table_name="routes")
