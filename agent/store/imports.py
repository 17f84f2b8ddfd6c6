"""Imports: a whole file staged first, then stored in one short transaction.

Reading, checking and staging a large file takes a while; none of it holds the store's
write lock. The checked rows wait in temporary tables private to the import's connection
(SQLite keeps them in its own temporary database, PostgreSQL in the session's temporary
schema), so memory stays flat however many rows the file has. Only then does one
transaction record the import and move the staged rows into the store with two
``INSERT ... SELECT`` statements: on SQLite, the only time reviewers' decisions wait for
the import is that commit (seconds for a few hundred thousand rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from labelloop.core.errors import ImportFileError
from labelloop.core.records import ImportRecord
from labelloop.store.base import to_record
from labelloop.store.tables import ImportRow, ItemRow, ReviewRow

T_IMPORTS = ImportRow.__table__
T_ITEMS = ItemRow.__table__
T_REVIEWS = ReviewRow.__table__
IN_CHUNK = 900  # stays under old SQLite builds' 999 bound parameters
RACE = (
    "another process added some of these items while the import ran; "
    "nothing was imported: run the import again"
)
BUSY = (
    "the store stayed busy with another write until its timeout, so nothing was imported; "
    "run the import again"
)


def _staging_tables() -> tuple[sa.Table, sa.Table]:
    """The temporary tables an import stages into: the item and review columns as the
    store keeps them (so the final copy is plain SQL), whether the item is new and whether
    a review changes its reviewer's stored answer."""
    md = sa.MetaData()
    temp = {"prefixes": ["TEMPORARY"], "postgresql_on_commit": "PRESERVE ROWS"}
    items = sa.Table(
        "labelloop_staged_items",
        md,
        *(sa.Column(c.name, c.type, primary_key=c.name == "id") for c in T_ITEMS.c),
        sa.Column("is_new", sa.Boolean, nullable=False),
        **temp,
    )
    reviews = sa.Table(
        "labelloop_staged_reviews",
        md,
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(c.name, c.type) for c in T_REVIEWS.c if c.name != "id"),
        sa.Column("item_new", sa.Boolean, nullable=False),
        # the reviewer answered the stored item before, differently: a changed mind
        sa.Column("changes", sa.Boolean, nullable=False, default=False),
        **temp,
    )
    return items, reviews


S_ITEMS, S_REVIEWS = _staging_tables()


@dataclass(frozen=True)
class Stored:
    """What the commit stored."""

    import_id: int
    items_added: int
    reviews_added: int


class ImportWriter:
    """The store's side of one import, on the connection its staging tables live on."""

    def __init__(self, conn: Connection, meta: dict):
        self.conn = conn
        self.meta = meta
        self.reviews_staged = 0

    def staged_lines(self, ids: Sequence[str]) -> dict[str, int]:
        """Of ``ids``, those an earlier row of this file had, with that row's line."""
        c = S_ITEMS.c
        return dict(self._select_in(sa.select(c.id, c.line), c.id, ids))

    def stored_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Of ``ids``, those already in the store, with their content hash."""
        c = T_ITEMS.c
        return dict(self._select_in(sa.select(c.id, c.content_hash), c.id, ids))

    def latest_answers(self, ids: Sequence[str]) -> dict[tuple[str, str], tuple[str, Any]]:
        """``(item_id, reviewer)`` -> ``(action, value)`` of that reviewer's latest review,
        for every reviewer with a review of one of ``ids``."""
        c = T_REVIEWS.c
        q = sa.select(c.item_id, c.reviewer, c.action, c.value).order_by(c.id)
        return {(i, r): (a, v) for i, r, a, v in self._select_in(q, c.item_id, ids)}

    def stage(self, items: list[dict], reviews: list[dict]) -> None:
        """Stage a batch: every item of it (``is_new``: not in the store yet) and the
        reviews to add (``item_new``: of an item not in the store yet). The store's own
        tables are not written, so no lock is taken on them."""
        first = self.reviews_staged
        reviews = [{**r, "seq": first + k} for k, r in enumerate(reviews)]
        self.reviews_staged += len(reviews)
        with self.conn.begin():
            for table, rows in ((S_ITEMS, items), (S_REVIEWS, reviews)):
                if rows and self.conn.dialect.name == "postgresql":
                    _copy(self.conn, table, rows)
                elif rows:
                    self.conn.execute(sa.insert(table), rows)

    def commit(self, rows: int) -> Stored:
        """Record the import and add its staged items and reviews, in one transaction."""
        try:
            with self.conn.begin():
                return self._move(rows)
        except sa.exc.IntegrityError as exc:
            raise ImportFileError(RACE, path=self.meta["path"]) from exc
        except sa.exc.OperationalError as exc:  # e.g. SQLite busy past its timeout
            raise ImportFileError(BUSY, path=self.meta["path"]) from exc

    def _move(self, rows: int) -> Stored:
        conn = self.conn
        values = {**self.meta, "rows": rows, "items_added": 0, "reviews_added": 0}
        import_id = conn.execute(
            sa.insert(T_IMPORTS).returning(T_IMPORTS.c.id), [values]
        ).scalar_one()
        number = sa.literal(import_id, sa.Integer)
        cols = [c.name for c in T_ITEMS.c]
        picked = [number if n == "import_id" else S_ITEMS.c[n] for n in cols]
        new_items = sa.select(*picked).where(S_ITEMS.c.is_new)
        items = _insert(conn, sa.insert(T_ITEMS).from_select(cols, new_items))
        cols = [c.name for c in T_REVIEWS.c if c.name != "id"]
        picked = [number if n == "import_id" else S_REVIEWS.c[n] for n in cols]
        known = T_REVIEWS.alias("known")
        # a review of an item already stored: unless its reviewer's review came meanwhile
        # (a changed answer is added whatever came meanwhile: it is the latest word)
        fresh = ~sa.exists().where(
            known.c.item_id == S_REVIEWS.c.item_id, known.c.reviewer == S_REVIEWS.c.reviewer
        )
        new_reviews = (
            sa.select(*picked)
            .where(sa.or_(S_REVIEWS.c.item_new, S_REVIEWS.c.changes, fresh))
            .order_by(S_REVIEWS.c.seq)  # review ids in file order
        )
        reviews = _insert(conn, sa.insert(T_REVIEWS).from_select(cols, new_reviews))
        conn.execute(
            sa.update(T_IMPORTS)
            .where(T_IMPORTS.c.id == import_id)
            .values(items_added=items, reviews_added=reviews)
        )
        return Stored(import_id, items, reviews)

    def _select_in(self, query, column, ids: Sequence[str]) -> Iterator[tuple]:
        with self.conn.begin():
            for i in range(0, len(ids), IN_CHUNK):
                yield from self.conn.execute(query.where(column.in_(ids[i : i + IN_CHUNK])))


class ImportsMixin:
    @contextmanager
    def import_session(
        self, path: str, fmt: str, sha256: str, reviewer: str | None, sample: bool = False
    ) -> Iterator[ImportWriter]:
        """One import: stage its rows with the writer, then ``commit``; an exception
        before the commit leaves the store as it was (nothing was written to it)."""
        meta = {**_import_values(path, fmt, sha256, reviewer), "sample": sample}
        with self.engine.connect() as conn:
            _drop_staging(conn)  # what an import that died on this connection left
            with conn.begin():
                for table in (S_ITEMS, S_REVIEWS):
                    table.create(conn)
            try:
                yield ImportWriter(conn, meta)
            finally:
                if conn.in_transaction():
                    conn.rollback()
                _drop_staging(conn)

    def imports(self) -> list[ImportRecord]:
        """Every import so far, oldest first."""
        with self.session() as s:
            rows = s.exec(sa.select(ImportRow).order_by(ImportRow.id)).scalars()
            return [to_record(ImportRecord, r) for r in rows]


def _insert(conn: Connection, statement) -> int:
    """Run an ``INSERT ... SELECT``; the rows it added."""
    return conn.execute(statement, execution_options={"preserve_rowcount": True}).rowcount


def _drop_staging(conn: Connection) -> None:
    with conn.begin():
        for table in (S_ITEMS, S_REVIEWS):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_temp(conn)}.{table.name}")


def _temp(conn: Connection) -> str:
    return "temp" if conn.dialect.name == "sqlite" else "pg_temp"


def _copy(conn: Connection, table: sa.Table, rows: list[dict]) -> None:
    """PostgreSQL's COPY, several times faster than executemany for a bulk load."""
    cols = list(rows[0])
    as_json = [isinstance(table.c[c].type, sa.JSON) for c in cols]
    sql = f"COPY {table.name} ({', '.join(cols)}) FROM STDIN"
    with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            # json.dumps(None) is JSON null, as SQLAlchemy's JSON type stores None
            copy.write_row(
                [json.dumps(row[c]) if j else row[c] for c, j in zip(cols, as_json, strict=True)]
            )


def _import_values(path: str, fmt: str, sha256: str, reviewer: str | None) -> dict:
    return {
        "path": path,
        "format": fmt,
        "sha256": sha256,
        "reviewer": reviewer,
        "created_at": datetime.now(UTC),
    }
