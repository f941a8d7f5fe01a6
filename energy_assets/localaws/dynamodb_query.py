"""Query and Scan in time proportional to what they read, as on DynamoDB.

moto 5.2 answers each Query and each page of a Scan from ``all_items()``: *every* item of the
table, sorted. One Query of one meter's month took 13 s on a 1,000-meter, 3-year table (1.07 M
items), which is what the app's page asks for each meter it shows; a Scan of that table, one
1 MB page at a time, took 26 minutes; and with the compact item store (``dynamodb_store``)
``all_items()`` decodes every item as well. Here, for the duration of one call and one thread,
``all_items()`` is narrowed to what the call can return:

* a Query on the table's own key: its partition's items, in sort-key order;
* a Query on an index whose partition key is the table's sort key (the usage table's date
  index) or its partition key: the items holding that value, found by key (one lookup per
  partition, not a pass over every item);
* a Scan of the table: the items after ``ExclusiveStartKey``, in moto's order, partitions of
  other segments skipped, decoded one at a time as moto's loop asks for them (it stops at the
  page's limit).

Everything else (range conditions, filters, limits, pages, projections, segment checks, the
answer) is moto's own code, unchanged, and other requests on other tables or threads see the
whole table as before. Other index Queries and index Scans read ``all_items()`` as moto does.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from energy_assets.localaws import dynamodb_store

_scope = threading.local()
_query = Table.query
_scan = Table.scan
_all_items = Table.all_items
_query_signature = inspect.signature(_query)
_scan_signature = inspect.signature(_scan)


def _narrowed_items(self: Table) -> Iterable[Item]:
    narrowed = getattr(_scope, "narrowed", None)
    if narrowed is None or narrowed[0] is not self:
        return _all_items(self)
    return narrowed[1]()


def _narrowed(self: Table, source: Callable[[], Iterable[Item]], call, *args, **kwargs):
    _scope.narrowed = (self, source)
    try:
        return call(self, *args, **kwargs)
    finally:
        _scope.narrowed = None


def _partition_values(self: Table, hash_key: DynamoType) -> list[Item]:
    partition = self.items.get(hash_key, {})
    if isinstance(partition, dynamodb_store.Partition):
        return list(partition.sorted_values())
    return sorted(partition.values(), key=lambda item: item.range_key)


def _index_source(self: Table, asked: dict[str, Any]) -> Callable[[], list[Item]] | None:
    """The items an index Query can return, found by key; None when it must read them all."""
    index = next((i for i in self.all_indexes() if i.name == asked["index_name"]), None)
    if index is None:
        return None  # moto answers the error
    hashes = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    conditions = asked.get("hash_key_conditions") or []
    if len(hashes) != 1 or len(conditions) > 1:
        return None
    value = asked.get("hash_key")
    if conditions:
        name, value = conditions[0]
        if name != hashes[0]:
            return None
    if value is None:
        return None
    if hashes[0] == self.hash_key_attr:
        return lambda: _partition_values(self, value)
    if hashes[0] != self.range_key_attr:
        return None

    def holding() -> list[Item]:
        found = []
        for partition in list(self.items.values()):
            item = partition.get(value)
            if item is not None:
                found.append(item)
        return found

    return holding


def _partition_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    # moto's backend passes index_name by position: bind the call as moto's signature reads it
    asked = _query_signature.bind(self, hash_key, *args, **kwargs).arguments
    if not self.range_key_attr:
        return _query(self, hash_key, *args, **kwargs)
    if asked.get("index_name"):
        source = _index_source(self, asked)
    elif hash_key is not None:
        source = lambda: _partition_values(self, hash_key)  # noqa: E731
    else:
        source = None
    if source is None:
        return _query(self, hash_key, *args, **kwargs)
    return _narrowed(self, source, _query, hash_key, *args, **kwargs)


def _in_segment(key: DynamoType, segments: tuple) -> bool:
    return Item.is_within_segment(SimpleNamespace(hash_key=key), segments)  # moto's own rule


def _scan_order(self: Table, start: dict | None, segments: tuple) -> Iterator[Item]:
    """The table's items in moto's order (partition key, then sort key) after ``start``,
    skipping partitions of other segments."""
    items = self.items
    if dynamodb_store.is_compact(self):
        order = items.sorted_keys()
    else:
        order = sorted(((k.cast_value, k) for k in list(items.keys())), key=lambda p: p[0])
    first, after = 0, None
    if start and self.hash_key_attr in start:
        begin = DynamoType(start[self.hash_key_attr]).cast_value
        while first < len(order) and order[first][0] < begin:  # few thousand keys: linear is ok
            first += 1
        if first < len(order) and order[first][0] == begin and self.range_key_attr in start:
            after = DynamoType(start[self.range_key_attr])
    whole = tuple(segments) == (None, None)
    for position in range(first, len(order)):
        _, key = order[position]
        if not whole and not _in_segment(key, segments):
            continue
        partition = items.get(key)
        if not partition:
            continue
        since = after if position == first else None
        if isinstance(partition, dynamodb_store.Partition):
            yield from partition.sorted_values(
                dynamodb_store.plain_key(since) if since is not None else None
            )
        else:
            for range_key, item in sorted(list(partition.items()), key=lambda kv: kv[0]):
                if since is None or since < range_key:
                    yield item


def _lazy_scan(self: Table, *args: Any, **kwargs: Any) -> Any:
    asked = _scan_signature.bind(self, *args, **kwargs).arguments
    if asked.get("index_name") or not self.range_key_attr:
        return _scan(self, *args, **kwargs)
    start = asked.get("exclusive_start_key")
    segments = asked.get("segments", (None, None))
    return _narrowed(self, lambda: _scan_order(self, start, segments), _scan, *args, **kwargs)


def install() -> None:
    """Patch moto's Table (idempotent)."""
    Table.query = _partition_query
    Table.scan = _lazy_scan
    Table.all_items = _narrowed_items
