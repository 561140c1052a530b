"""The app's database: an SQLAlchemy engine, sessions, and migrations run at startup.

SQLite is the default. Each connection runs in WAL mode (readers never wait for the writer) with
a busy timeout, ``synchronous=FULL`` (a committed verdict survives a crash or power loss), and
every transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up front, so two
requests that read then write (claim a check within the budget, submit a verdict) run one after
the other instead of failing on a lock upgrade.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(db: str | Path) -> str:
    """An SQLAlchemy URL: ``db`` as given when it has a scheme, else an SQLite file path."""
    text = str(db)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser()}"


def make_engine(db: str | Path) -> Engine:
    """An engine for ``db`` (a URL or an SQLite file path), with the SQLite settings above."""
    url = database_url(db)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level, so the "begin" hook below decides how to begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (the scripts ship inside this package)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    """An engine with its schema migrated and a session factory."""

    def __init__(self, db: str | Path):
        self.engine = make_engine(db)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions.begin() as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
