"""Dagster's SQLite event log, with its connections kept open: the instance's event log storage (refresh.DAGSTER_YAML).

Dagster's own SqliteEventLogStorage creates and disposes of a SQLAlchemy engine for every statement it runs, and
inspects the schema of its index database before every asset event: about 20 ms of a refresh's main thread per
event, 3 to 4 s per refresh (a refresh logs about 155 events). This storage keeps one engine per database file
(the index and the few latest runs' files) and remembers which tables and columns exist once it has seen them.
The files, their tables and what is written to them are Dagster's own: the Dagster UI reads the same history.
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (INDEX_SHARD_NAME, SQLITE_BUSY_TIMEOUT_SECONDS,
                                                                      SqliteEventLogStorage)
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

OPEN_RUN_FILES = 4  # run files whose engine stays open (a long-lived UI process reads many runs)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with an open engine per database file and the index schema's checks remembered.

    Configured in dagster.yaml as `event_log_storage`, with the folder of its files as `base_dir`.
    """

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._present: set[tuple[str, str]] = set()  # (table, column or "") seen in the index database
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(self.conn_string_for_shard(shard),
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        self._engines[shard] = engine  # most recently used last
        runs = [s for s in self._engines if s != INDEX_SHARD_NAME]
        for old in runs[:-OPEN_RUN_FILES]:
            self._engines.pop(old).dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        if (table_name, "") not in self._present and super().has_table(table_name):
            self._present.add((table_name, ""))
        return (table_name, "") in self._present

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        key = ("asset_keys", column_name)
        if key not in self._present and super()._has_asset_key_col_on_connection(conn, column_name):
            self._present.add(key)
        return key in self._present

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
