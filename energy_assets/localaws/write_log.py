"""When each item of the local DynamoDB was written, and what it was before and after: what AWS
keeps for point-in-time recovery, and what incremental exports and past-time full exports read.

moto keeps only the current items. Every change moto would hand to a DynamoDB stream (PutItem,
UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, PartiQL writes) goes through one
spot: ``table.stream_shard.add(old_item, new_item)``, guarded by ``if table.stream_shard is not
None``. ``install()`` turns ``Table.stream_shard`` into a property that, while the table has
point-in-time recovery enabled, answers a tap recording the change and passing it on to the
table's real stream shard, if it has one (the tap is falsy when it has none, so moto's Streams
API still sees no shard). So the log costs nothing for tables without PITR (seeding before PITR
is turned on writes no log), and records exactly what AWS's change data would hold once it is on.

Each entry: time (microseconds, the server's clock, taken under the log's lock so entries are in
write order), the item's key, and its old and new images as DynamoDB JSON text (None for absent).
A write that leaves an item as it was is not recorded (DynamoDB Streams record no such write
either). Writes of a transaction are recorded when it succeeds; moto rolls a failed one back by
restoring copies of the tables, and its writes are dropped with it.

Bounded: entries are kept in a SQLite file in a temporary folder (memory holds a buffer of at
most ``FLUSH_EVERY`` entries), and entries older than the table's PITR recovery period (35 days
unless set) are pruned, as AWS forgets them; a deleted table's entries go with it.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import DynamoJsonEncoder

FLUSH_EVERY = 10_000
PRUNE_EVERY_SECONDS = 600.0
_SEPARATORS = (",", ":")
_PATCHED = "_energy_assets_write_log"


def now_micros() -> int:
    return time.time_ns() // 1000


def table_id(table: Table) -> str:
    """A table's identity in the log: its ARN and creation time (a table deleted and created
    again under the same name starts an empty log)."""
    return f"{table.table_arn}@{table.created_at.timestamp():.6f}"


def pitr_enabled(table: Table) -> bool:
    description = table.continuous_backups.get("PointInTimeRecoveryDescription", {})
    return description.get("PointInTimeRecoveryStatus") == "ENABLED"


def image(item) -> str | None:
    """An item's attributes as DynamoDB JSON text (None for no item)."""
    if item is None:
        return None
    return json.dumps(item.to_json()["Attributes"], cls=DynamoJsonEncoder, separators=_SEPARATORS)


def key_json(table: Table, item) -> tuple[str, str]:
    """(the item's key as DynamoDB JSON text, its partition key value as JSON text)."""
    partition = item.hash_key.to_json()
    key = {table.hash_key_attr: partition}
    if table.range_key_attr is not None and item.range_key is not None:
        key[table.range_key_attr] = item.range_key.to_json()
    return (
        json.dumps(key, separators=_SEPARATORS, default=str),
        json.dumps(partition, separators=_SEPARATORS, default=str),
    )


class WriteLog:
    """The process's log of item writes, per table (see the module doc)."""

    def __init__(self, folder: str | None = None):
        self._folder = folder or tempfile.mkdtemp(prefix="energy-assets-dynamodb-log-")
        self._owned = folder is None
        self.path = os.path.join(self._folder, "writes.sqlite")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=OFF;
            CREATE TABLE IF NOT EXISTS writes (
                tbl TEXT NOT NULL, ts INTEGER NOT NULL, key TEXT NOT NULL,
                part TEXT NOT NULL, old TEXT, new TEXT);
            CREATE INDEX IF NOT EXISTS by_time ON writes (tbl, ts);
            """
        )
        self._buffer: list[tuple] = []
        self._pruned: dict[str, float] = {}
        self._local = threading.local()

    # -- writing --

    def record(self, table: Table, old, new) -> None:
        if old is None and new is None:
            return
        old_image, new_image = image(old), image(new)
        if old_image == new_image:
            return
        key, part = key_json(table, new if new is not None else old)
        pending = getattr(self._local, "pending", None)
        entry = [table_id(table), 0, key, part, old_image, new_image]
        if pending is not None:  # inside a transaction: recorded when it succeeds
            pending.append((entry, table))
            return
        self._append([(entry, table)])

    def _append(self, entries: list) -> None:
        with self._lock:
            for entry, _ in entries:
                entry[1] = now_micros()
                self._buffer.append(tuple(entry))
            if len(self._buffer) >= FLUSH_EVERY:
                self._flush_locked()
                for _, table in entries:
                    self._maybe_prune_locked(table)

    def begin_transaction(self) -> None:
        self._local.pending = []

    def end_transaction(self, committed: bool) -> None:
        pending, self._local.pending = getattr(self._local, "pending", None), None
        if committed and pending:
            self._append(pending)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._buffer:
            self._db.executemany("INSERT INTO writes VALUES (?, ?, ?, ?, ?, ?)", self._buffer)
            self._buffer = []

    def _maybe_prune_locked(self, table: Table) -> None:
        tid = table_id(table)
        if time.monotonic() - self._pruned.get(tid, 0.0) < PRUNE_EVERY_SECONDS:
            return
        self._pruned[tid] = time.monotonic()
        days = table.continuous_backups.get("PointInTimeRecoveryDescription", {}).get(
            "RecoveryPeriodInDays", 35
        )
        cutoff = now_micros() - int(days) * 86_400 * 1_000_000
        self._db.execute("DELETE FROM writes WHERE tbl = ? AND ts < ?", (tid, cutoff))

    def forget(self, table: Table) -> None:
        """Drop a table's entries (the table was deleted, or PITR turned off: AWS drops the
        recovery history with it)."""
        tid = table_id(table)
        with self._lock:
            self._flush_locked()
            self._db.execute("DELETE FROM writes WHERE tbl = ?", (tid,))

    # -- reading --

    def entries(
        self, table: Table, start: int, end: int | None = None
    ) -> Iterator[tuple[int, str, str, str | None, str | None]]:
        """``(ts, key, part, old, new)`` of the table's writes with ``start <= ts < end``, in
        write order, read through a connection of its own (writers are not held up)."""
        self.flush()
        reader = sqlite3.connect(self.path, check_same_thread=False)
        try:
            query = "SELECT ts, key, part, old, new FROM writes WHERE tbl = ? AND ts >= ?"
            args: list[Any] = [table_id(table), start]
            if end is not None:
                query += " AND ts < ?"
                args.append(end)
            yield from reader.execute(query + " ORDER BY rowid", args)
        finally:
            reader.close()

    def count(self, table: Table) -> int:
        self.flush()
        return self._db.execute(
            "SELECT COUNT(*) FROM writes WHERE tbl = ?", (table_id(table),)
        ).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._owned:
            shutil.rmtree(self._folder, ignore_errors=True)


_log: WriteLog | None = None
_log_lock = threading.Lock()


def log() -> WriteLog:
    """The process's write log (created on first use, removed at exit)."""
    global _log
    if _log is None:
        with _log_lock:
            if _log is None:
                _log = WriteLog()
                atexit.register(_log.close)
    return _log


class _Tap:
    """What ``table.stream_shard`` answers while PITR is on: records each change, then hands
    it to the table's real stream shard when there is one (see the module doc)."""

    __slots__ = ("table",)

    def __init__(self, table: Table):
        self.table = table

    def add(self, old, new) -> None:
        log().record(self.table, old, new)
        shard = _real_shard(self.table)
        if shard is not None:
            shard.add(old, new)

    def __bool__(self) -> bool:
        return _real_shard(self.table) is not None

    def __getattr__(self, name: str):
        shard = _real_shard(self.table)
        if shard is None:
            raise AttributeError(name)
        return getattr(shard, name)


def _real_shard(table: Table):
    return table.__dict__.get("_real_stream_shard", table.__dict__.get("stream_shard"))


def _get_shard(table: Table):
    if pitr_enabled(table):
        return _Tap(table)
    return _real_shard(table)


def _set_shard(table: Table, shard) -> None:
    table.__dict__["_real_stream_shard"] = shard


def _transact(original):
    def transact_write_items(self, transact_items):
        log().begin_transaction()
        committed = False
        try:
            result = original(self, transact_items)
            committed = True
            return result
        finally:
            log().end_transaction(committed)

    setattr(transact_write_items, _PATCHED, True)
    return transact_write_items


def _delete_table(original):
    def delete_table(self, name: str):
        table = original(self, name)
        log().forget(table)
        return table

    setattr(delete_table, _PATCHED, True)
    return delete_table


def _continuous_backups(original):
    def update_continuous_backups(self, table_name: str, point_in_time_spec: dict):
        table = self.get_table(table_name)
        was_on = pitr_enabled(table)
        result = original(self, table_name, point_in_time_spec)
        if was_on and not pitr_enabled(table):
            log().forget(table)
        return result

    setattr(update_continuous_backups, _PATCHED, True)
    return update_continuous_backups


def install() -> None:
    """Hook moto's DynamoDB (idempotent), in this process, before the server answers."""
    if not isinstance(Table.__dict__.get("stream_shard"), property):
        Table.stream_shard = property(_get_shard, _set_shard)
    for name, wrap in (
        ("transact_write_items", _transact),
        ("delete_table", _delete_table),
        ("update_continuous_backups", _continuous_backups),
    ):
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, _PATCHED, False):
            setattr(DynamoDBBackend, name, wrap(method))
