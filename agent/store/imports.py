"""Imports: a whole file in one transaction, with a staging table of the ids seen so far."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agent.errors import ImportFileError
from agent.store.tables import ImportRow, ItemRow, ReviewRow

T_IMPORTS = ImportRow.__table__
T_ITEMS = ItemRow.__table__
T_REVIEWS = ReviewRow.__table__
IN_CHUNK = 900  # stays under old SQLite builds' 999 bound parameters

#: ids of the file being imported and the line each came from; private to the connection
#: and dropped at commit, so memory stays flat however many rows the file has
T_STAGING = sa.Table(
    "labelloop_import_ids",
    sa.MetaData(),
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("line", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


class ImportWriter:
    """The store's side of one import, bound to its transaction."""

    def __init__(self, conn: Connection, import_id: int):
        self.conn = conn
        self.import_id = import_id

    def staged_lines(self, ids: Sequence[str]) -> dict[str, int]:
        """Of ``ids``, those an earlier row of this file had, with that row's line."""
        c = T_STAGING.c
        return dict(self._select_in(sa.select(c.id, c.line), c.id, ids))

    def stored_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Of ``ids``, those already in the store, with their content hash."""
        c = T_ITEMS.c
        return dict(self._select_in(sa.select(c.id, c.content_hash), c.id, ids))

    def reviewed_by(self, ids: Sequence[str]) -> set[tuple[str, str]]:
        """``(item_id, reviewer)`` for every reviewer with a review of one of ``ids``."""
        c = T_REVIEWS.c
        q = sa.select(c.item_id, c.reviewer).distinct()
        return {(i, r) for i, r in self._select_in(q, c.item_id, ids)}

    def add(self, staged: list[dict], items: list[dict], reviews: list[dict]) -> None:
        """Insert a batch: its ids into the staging table, its new items, its new reviews."""
        postgres = self.conn.dialect.name == "postgresql"
        for table, rows in ((T_STAGING, staged), (T_ITEMS, items), (T_REVIEWS, reviews)):
            if rows and postgres:
                _copy(self.conn, table, rows)
            elif rows:
                self.conn.execute(sa.insert(table), rows)

    def finish(self, rows: int, items_added: int, reviews_added: int) -> None:
        """Record the import's counts."""
        self.conn.execute(
            sa.update(T_IMPORTS)
            .where(T_IMPORTS.c.id == self.import_id)
            .values(rows=rows, items_added=items_added, reviews_added=reviews_added)
        )

    def _select_in(self, query, column, ids: Sequence[str]) -> Iterator[tuple]:
        for i in range(0, len(ids), IN_CHUNK):
            yield from self.conn.execute(query.where(column.in_(ids[i : i + IN_CHUNK])))


class ImportsMixin:
    @contextmanager
    def import_session(
        self, path: str, fmt: str, sha256: str, reviewer: str | None, sample: bool = False
    ) -> Iterator[ImportWriter]:
        """One import as one transaction: an exception anywhere leaves the store unchanged."""
        try:
            with self.transaction() as conn:
                import_id = conn.execute(
                    sa.insert(T_IMPORTS).returning(T_IMPORTS.c.id),
                    [{**_import_values(path, fmt, sha256, reviewer), "sample": sample}],
                ).scalar_one()
                _create_staging(conn)
                yield ImportWriter(conn, import_id)
                T_STAGING.drop(conn, checkfirst=False)
        except sa.exc.IntegrityError as exc:
            raise ImportFileError(
                "another process added some of these items while the import ran; "
                "nothing was imported: run the import again",
                path=path,
            ) from exc

    def imports(self) -> list[ImportRow]:
        """Every import so far, oldest first."""
        with self.session() as s:
            return list(s.exec(sa.select(ImportRow).order_by(ImportRow.id)).scalars())


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


def _create_staging(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        # SQLite has no ON COMMIT DROP: clear what an import that failed may have left
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{T_STAGING.name}")
    T_STAGING.create(conn, checkfirst=False)


def _import_values(path: str, fmt: str, sha256: str, reviewer: str | None) -> dict:
    return {
        "path": path,
        "format": fmt,
        "sha256": sha256,
        "reviewer": reviewer,
        "rows": 0,
        "items_added": 0,
        "reviews_added": 0,
        "created_at": datetime.now(UTC),
    }
