"""The local Dagster instance's SQLite storage, with Dagster's event batches written as batches.

A daily-partitioned export over three years is one run that records 1,095
ASSET_MATERIALIZATION_PLANNED events when it is created and 1,095 ASSET_MATERIALIZATION events
when it ends. Dagster hands each of those sets to its event log storage as a batch (when
``DAGSTER_EVENT_BATCH_SIZE`` is above 0), but ``SqliteEventLogStorage`` stores a batch one event
at a time, and each event costs a new SQLAlchemy engine (so every statement is compiled again),
two SQLite connections and two committed transactions (the run's database and the index): about
8 ms an event, so 17 of the 34 s a 10-meter refresh took (docs/scaling.md, "The fixed part of a
run"). Here a batch of asset events is one transaction in each database, and each database's
engine is kept, so its compiled statements are too.

What is stored is unchanged: the same rows in the same tables, one planned and one
materialization event per partition, so the UI shows each partition materialized, and a failed
run's partitions failed (which Dagster's other way to fewer events,
``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS``, gives up on SQL storages: its one planned
event has no partition, and failed partitions are found from planned events per partition).

``dagster.yaml`` names ``BatchedSqliteStorage`` as the instance's ``storage``; it keeps
Dagster's own SQLite layout under ``base_dir``, so an instance written by the plain ``sqlite``
storage reads the same.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# Dagster reads this from the environment at every event: above 0, events it sends as a batch
# (a run's planned events, a ranged run's materializations) reach ``store_event_batch`` in
# batches of up to this many.
BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
BATCH_SIZE = 10_000
# run databases whose engines are kept (the runs being written and read now); an engine is
# only a connection factory with its statement cache (NullPool: no connection stays open)
ENGINES_KEPT = 16


def enable_event_batches() -> None:
    """Turn Dagster's event batching on in this process and the runs it starts (they inherit
    the environment), unless the environment already says otherwise."""
    os.environ.setdefault(BATCH_SIZE_ENV, str(BATCH_SIZE))


def _plain_asset_event(event: EventLogEntry) -> bool:
    """An event ``SqliteEventLogStorage.store_event`` writes to the run's database and the
    index and nothing else (no asset check, no run status)."""
    return bool(
        event.is_dagster_event
        and event.dagster_event_type in ASSET_EVENTS
        and event.get_dagster_event().asset_key
    )


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose ``store_event_batch`` is one transaction per database
    and whose engines (with their compiled statements) are kept per database."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)
        enable_event_batches()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            self._engines[shard] = engine
            if len(self._engines) > ENGINES_KEPT:
                self._engines.popitem(last=False)[1].dispose()
        else:
            self._engines.move_to_end(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # as SqliteEventLogStorage._connect, with the shard's engine kept
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A run's batch of asset events as ``store_event`` writes each (a row in the run's
        database; the row again in the index, its tags, its asset's entry), in one transaction
        per database: the rows by one executemany, the asset entry once per asset and event
        type (the batch's last such event: each entry column holds the last event that sets
        it). Any other batch one event at a time."""
        runs = {event.run_id for event in events}
        if len(runs) != 1 or not all(_plain_asset_event(e) for e in events):
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(runs.pop()) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            # the index's ids of the rows: this transaction is SQLite's only writer, and
            # executemany inserts in order
            table = SqlEventLogStorageTable
            before = conn.execute(db.select(db.func.max(table.c.id))).scalar() or 0
            conn.execute(table.insert(), rows)
            ids = list(
                conn.execute(db.select(table.c.id).where(table.c.id > before).order_by(table.c.id))
                .scalars()
                .all()
            )
            if len(ids) != len(events):
                raise RuntimeError(f"stored {len(events)} events, found {len(ids)} new rows")
            self._store_asset_event_tags(conn, list(events), ids)
            last: dict[tuple, int] = {}
            for i, event in enumerate(events):
                last[(event.get_dagster_event().asset_key, event.dagster_event_type)] = i
            for i in sorted(last.values()):
                self._store_asset_event(conn, events[i], ids[i])

    def dispose(self) -> None:
        super().dispose()
        while self._engines:
            self._engines.popitem()[1].dispose()


class BatchedSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (same directories under ``base_dir``) with
    ``BatchedSqliteEventLogStorage`` for the event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage.dispose()
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchedSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        return ConfigurableClassData(
            __name__,
            BatchedSqliteEventLogStorage.__name__,
            f"base_dir: {_event_logs_directory(self.base_dir)}\n",
        )


# The instance settings the project's local instances use (dagster.yaml says the same).
def storage_settings(base_dir: str) -> dict:
    """The ``storage`` entry of an instance's settings, for ``base_dir``."""
    return {
        "storage": {
            "custom": {
                "module": __name__,
                "class": BatchedSqliteStorage.__name__,
                "config": {"base_dir": base_dir},
            }
        }
    }
