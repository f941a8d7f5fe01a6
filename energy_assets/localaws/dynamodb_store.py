"""The local DynamoDB's items held compactly: one small ``bytes`` per item, decoded into moto's
``Item`` only when a request touches it.

moto keeps every item as an ``Item`` whose attributes are a dict of ``DynamoType`` objects,
each with its own ``__dict__``: about 1.8 KB per daily-usage item (a 1,000-meter, 3-year table,
1.07 M items, held 2 GB in the local AWS; 10,000 meters would need about 20 GB). Here a table
with a sort key keeps, per partition key, a dict from the sort key's value to the item's
encoding (``Partition``), under the same ``table.items[hash_key]`` moto reads and writes, so
moto's own code (PutItem, GetItem, DeleteItem, BatchWriteItem, Query, Scan, transactions,
PartiQL, backups) runs unchanged on top of it: reading ``partition[range_key]`` decodes a fresh
``Item``, assigning one encodes it.

The encoding of an item whose top-level attributes are all strings and numbers (the usage
table's): two bytes naming its *shape* (the attribute names and types in their order, interned
once per process) and the values as their DynamoDB-JSON text (strings escaped as ``json.dumps``
escapes them, so ASCII only and never a raw control character) joined by ``\\x1f``; a string
partition or sort key is left out (the partition and the dict key hold it; sort-key text is
interned, so 1,095 dates are 1,095 strings whatever the fleet). Any other item (binary, boolean,
null, sets, lists, maps, unusual number text) is kept as its DynamoDB-JSON text after the shape
number ``0xFFFF``. About 80 bytes per usage item in all (see
``benchmarks/results/localaws_memory.md``).

What changes for moto: an item read from the table is a new object each time, so code that
mutates a stored item in place must store it again. moto does that in one place, UpdateItem
(its update expression executor edits the item ``get_item`` returned); ``install()`` wraps
``DynamoDBBackend.update_item`` to store the updated item. An UpdateItem that fails half-way
(``ItemSizeTooLarge``) stores nothing, as on AWS (moto kept the attributes it had changed).

Tables without a sort key (the meter registry: one item per meter) stay as moto keeps them.
``ENABLED`` (``LOCAL_AWS_COMPACT_ITEMS=0`` turns it off) applies to tables created after it is
set; tests create a moto-stored table beside a compact one to compare their answers.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import json
import os
import re
import sys
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import DynamoJsonEncoder

ENABLED = os.environ.get("LOCAL_AWS_COMPACT_ITEMS", "1") != "0"
SEPARATOR = "\x1f"
FALLBACK = 0xFFFF  # the shape number of an item kept as DynamoDB-JSON text
_HASH, _RANGE = "#H", "#R"  # shape types of the key attributes left out of the encoding
_NUMBER = re.compile(r"[0-9.eE+\-]+")  # number text JSON carries as it is
_SEPARATORS = (",", ":")
_PATCHED = "_energy_assets_store"


def _same_text(key: DynamoType | None, value: str) -> bool:
    return key is not None and key.type == "S" and key.value == value


def _plain_text(value: str) -> bool:
    """Whether ``json.dumps`` leaves this string as it is (no escapes)."""
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value


def _escaped(value: str) -> str:
    return value if _plain_text(value) else json.dumps(value)[1:-1]


def _unescaped(piece: str) -> str:
    return json.loads('"' + piece + '"') if "\\" in piece else piece


class Shape:
    """An item's top-level attribute names and types, in order, and the pieces of its JSON."""

    __slots__ = ("pairs", "prefixes", "count")

    def __init__(self, key: tuple[str, ...]):
        self.pairs = [(key[i], key[i + 1]) for i in range(0, len(key), 2)]
        self.prefixes = []
        for position, (name, kind) in enumerate(self.pairs):
            kind = "S" if kind in (_HASH, _RANGE) else kind
            self.prefixes.append(
                ("{" if position == 0 else ",") + json.dumps(name) + ':{"' + kind + '":"'
            )
        self.count = sum(1 for _, kind in self.pairs if kind not in (_HASH, _RANGE))


_shapes: list[Shape] = []
_shape_ids: dict[tuple[str, ...], int] = {}
_shapes_lock = threading.Lock()


def _shape_id(key: tuple[str, ...]) -> int:
    found = _shape_ids.get(key)
    if found is not None:
        return found
    with _shapes_lock:
        found = _shape_ids.get(key)
        if found is None:
            if len(_shapes) >= FALLBACK:
                return FALLBACK
            _shapes.append(Shape(key))
            found = _shape_ids[key] = len(_shapes) - 1
    return found


def _value(kind: str, value: Any) -> DynamoType:
    built = DynamoType.__new__(DynamoType)
    built.type, built.value = kind, value
    return built


def _copy_key(key: DynamoType) -> DynamoType:
    return _value(key.type, key.value) if key.type in ("S", "N", "B") else copy.deepcopy(key)


def plain_key(key: DynamoType) -> Any:
    """A sort key's value as the partition's dict holds it (equal where moto's keys are equal)."""
    if key.type == "S":
        return key.value
    return key.cast_value


class Codec:
    """Encodes and decodes the items of one table (its key attribute names)."""

    __slots__ = ("hash_attr", "range_attr")

    def __init__(self, hash_attr: str, range_attr: str):
        self.hash_attr, self.range_attr = hash_attr, range_attr

    # -- encoding --

    def encode_item(self, item: Item) -> bytes:
        """An ``Item``'s encoding (its keys as the table holds them)."""
        shape: list[str] = []
        pieces: list[str] = []
        hash_attr, range_attr = self.hash_attr, self.range_attr
        for name, attribute in item.attrs.items():
            kind, value = attribute.type, attribute.value
            if kind == "S" and type(value) is str:
                if name == range_attr and _same_text(item.range_key, value):
                    shape += (name, _RANGE)
                    continue
                if name == hash_attr and _same_text(item.hash_key, value):
                    shape += (name, _HASH)
                    continue
                pieces.append(_escaped(value))
            elif kind == "N" and type(value) is str and _NUMBER.fullmatch(value):
                pieces.append(value)
            else:
                return self._fallback(json.dumps(
                    item.to_json()["Attributes"], cls=DynamoJsonEncoder, separators=_SEPARATORS
                ))  # fmt: skip
            shape += (name, kind)
        return self._shaped(tuple(shape), pieces)

    def encode_json(self, attrs: dict[str, dict]) -> bytes:
        """The encoding of an item given as DynamoDB JSON (``{"name": {"S": "..."}}``), whose
        keys were checked (present, of the table's types, not empty)."""
        shape: list[str] = []
        pieces: list[str] = []
        hash_attr, range_attr = self.hash_attr, self.range_attr
        for name, attribute in attrs.items():
            if len(attribute) != 1:
                return self._fallback(json.dumps(attrs, separators=_SEPARATORS))
            ((kind, value),) = attribute.items()
            if kind == "S" and type(value) is str:
                if name == range_attr:
                    shape += (name, _RANGE)
                    continue
                if name == hash_attr:
                    shape += (name, _HASH)
                    continue
                pieces.append(_escaped(value))
            elif kind == "N" and type(value) is str and _NUMBER.fullmatch(value):
                pieces.append(value)
            else:
                return self._fallback(json.dumps(attrs, separators=_SEPARATORS))
            shape += (name, kind)
        return self._shaped(tuple(shape), pieces)

    @staticmethod
    def shape_prefix(shape: tuple[str, ...]) -> bytes:
        """The two bytes naming a shape (name, type, ...; ``#H``/``#R`` for string keys left
        out) at the head of its items' encodings."""
        number = _shape_id(shape)
        if number == FALLBACK:  # more shapes than two bytes name: never in practice
            raise OverflowError("too many item shapes")
        return number.to_bytes(2, "big")

    @classmethod
    def _shaped(cls, shape: tuple[str, ...], pieces: list[str]) -> bytes:
        return cls.shape_prefix(shape) + SEPARATOR.join(pieces).encode("ascii")

    @staticmethod
    def _fallback(text: str) -> bytes:
        return FALLBACK.to_bytes(2, "big") + text.encode("ascii")

    # -- decoding --

    def decode(self, hash_key: DynamoType, range_value: Any, payload: bytes) -> Item:
        """A new ``Item`` from an encoding, its partition's key and its dict key."""
        number = int.from_bytes(payload[:2], "big")
        stored = LimitedSizeDict.__new__(LimitedSizeDict)
        item = Item.__new__(Item)
        if number == FALLBACK:
            for name, attribute in json.loads(payload[2:]).items():
                dict.__setitem__(stored, name, DynamoType(attribute))
            item.hash_key = _copy_key(stored[self.hash_attr])
            item.range_key = _copy_key(stored[self.range_attr])
            item.attrs = stored
            return item
        shape = _shapes[number]
        values = iter(payload[2:].decode("ascii").split(SEPARATOR) if shape.count else ())
        item.hash_key = item.range_key = None
        for name, kind in shape.pairs:
            if kind == _RANGE:
                attribute = _value("S", range_value)
                item.range_key = _value("S", range_value)
            elif kind == _HASH:
                attribute = _value("S", hash_key.value)
                item.hash_key = _value("S", hash_key.value)
            else:
                piece = next(values)
                attribute = _value(kind, _unescaped(piece) if kind == "S" else piece)
            dict.__setitem__(stored, name, attribute)
        if item.hash_key is None:
            item.hash_key = _copy_key(stored[self.hash_attr])
        if item.range_key is None:
            item.range_key = _copy_key(stored[self.range_attr])
        item.attrs = stored
        return item

    def image(self, hash_key: DynamoType, range_value: Any, payload: bytes) -> str:
        """The item's attributes as DynamoDB-JSON text, without building an ``Item``: the text
        ``write_log.image`` gives for it."""
        number = int.from_bytes(payload[:2], "big")
        if number == FALLBACK:
            return payload[2:].decode("ascii")
        shape = _shapes[number]
        values = iter(payload[2:].decode("ascii").split(SEPARATOR) if shape.count else ())
        parts = []
        for prefix, (_, kind) in zip(shape.prefixes, shape.pairs, strict=True):
            if kind == _RANGE:
                piece = _escaped(range_value)
            elif kind == _HASH:
                piece = _escaped(hash_key.value)
            else:
                piece = next(values)
            parts += (prefix, piece, '"}')
        parts.append("}")
        return "".join(parts)


class Decoded(Item):
    """An item decoded for a read that only answers it (a Scan's or Query's candidates): no
    one else holds it, so moto's defensive deep copy of each one may be the item itself (a
    third of a Scan page's work). Items handed to writes (UpdateItem's ``get_item``) stay
    plain ``Item``s, copied as before."""

    def __deepcopy__(self, memo: dict) -> Decoded:
        return self


def for_reading(item: Item) -> Item:
    item.__class__ = Decoded
    return item


class Partition(MutableMapping):
    """One partition key's items: sort-key value -> encoding (see the module doc). Read and
    written with moto's ``DynamoType`` sort keys, as moto's dict of ``Item`` was."""

    __slots__ = ("codec", "hash_key", "rows")

    def __init__(self, codec: Codec, hash_key: DynamoType):
        self.codec, self.hash_key = codec, hash_key
        self.rows: dict[Any, bytes] = {}

    def __getitem__(self, range_key: DynamoType) -> Item:
        plain = plain_key(range_key)
        return self.codec.decode(self.hash_key, plain, self.rows[plain])

    def __setitem__(self, range_key: DynamoType, item: Item) -> None:
        plain = plain_key(range_key)
        if type(plain) is str:
            plain = sys.intern(plain)
        self.rows[plain] = self.codec.encode_item(item)

    def __delitem__(self, range_key: DynamoType) -> None:
        del self.rows[plain_key(range_key)]

    def __contains__(self, range_key: object) -> bool:
        return isinstance(range_key, DynamoType) and plain_key(range_key) in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[DynamoType]:
        for item in self.values():
            yield item.range_key

    def values(self) -> list[Item]:  # type: ignore[override]
        decode, hash_key = self.codec.decode, self.hash_key
        return [decode(hash_key, plain, payload) for plain, payload in list(self.rows.items())]

    def items(self) -> list[tuple[DynamoType, Item]]:  # type: ignore[override]
        return [(item.range_key, item) for item in self.values()]

    def sorted_values(self, after: Any = None) -> Iterator[Item]:
        """The items in sort-key order (after ``after``, a plain sort-key value, when given),
        decoded one at a time."""
        decode, hash_key, rows = self.codec.decode, self.hash_key, self.rows
        for plain in sorted(rows):
            if after is not None and plain <= after:
                continue
            payload = rows.get(plain)
            if payload is not None:
                yield for_reading(decode(hash_key, plain, payload))

    def images(self) -> Iterator[str]:
        """Each item's DynamoDB-JSON text (``Codec.image``), in the dict's order."""
        image, hash_key = self.codec.image, self.hash_key
        for plain, payload in list(self.rows.items()):
            yield image(hash_key, plain, payload)

    def __deepcopy__(self, memo: dict) -> Partition:
        copied = Partition(self.codec, copy.deepcopy(self.hash_key, memo))
        copied.rows = dict(self.rows)
        return copied

    def __repr__(self) -> str:
        return f"Partition({self.hash_key!r}, {len(self.rows)} items)"


class TableItems(dict):
    """``table.items`` of a table with a sort key: partition key -> ``Partition``, created on
    first use as moto's ``defaultdict(dict)`` did; remembers its keys' sorted order for Scan."""

    __slots__ = ("codec", "_order")

    def __init__(self, codec: Codec):
        super().__init__()
        self.codec = codec
        self._order: list[tuple[Any, DynamoType]] | None = None

    def __missing__(self, key: DynamoType) -> Partition:
        partition = self[key] = Partition(self.codec, key)
        return partition

    def __setitem__(self, key, value) -> None:
        self._order = None
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        self._order = None
        super().__delitem__(key)

    def pop(self, *args):
        self._order = None
        return super().pop(*args)

    def clear(self) -> None:
        self._order = None
        super().clear()

    def sorted_keys(self) -> list[tuple[Any, DynamoType]]:
        """``(cast value, key)`` of every partition, in the order moto sorts items."""
        order = self._order
        if order is None:
            order = sorted(((k.cast_value, k) for k in list(self.keys())), key=lambda p: p[0])
            self._order = order
        return order

    def __deepcopy__(self, memo: dict) -> TableItems:
        copied = TableItems(self.codec)
        for key, partition in self.items():
            dict.__setitem__(copied, copy.deepcopy(key, memo), copy.deepcopy(partition, memo))
        return copied

    def __reduce__(self):
        return (_rebuild, (self.codec.hash_attr, self.codec.range_attr, dict(self)))


def _rebuild(hash_attr: str, range_attr: str, partitions: dict) -> TableItems:
    items = TableItems(Codec(hash_attr, range_attr))
    dict.update(items, partitions)
    return items


def release_memory() -> None:
    """Hand memory freed by a bulk operation (an import, an export) back to the system: glibc
    keeps freed blocks in per-thread arenas, so the process's RSS stays at the operation's
    peak without this. No-op where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def is_compact(table: Table) -> bool:
    return isinstance(table.items, TableItems)


def _table_init(original):
    def __init__(self: Table, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        if ENABLED and self.range_key_attr is not None:
            self.items = TableItems(Codec(self.hash_key_attr, self.range_key_attr))

    setattr(__init__, _PATCHED, True)
    return __init__


def _update_item(original):
    def update_item(self: DynamoDBBackend, table_name: str, *args, **kwargs) -> Item:
        item = original(self, table_name, *args, **kwargs)
        table = self.get_table(table_name)
        if item is not None and is_compact(table):
            table.items[item.hash_key][item.range_key] = item  # the edited copy, stored
        return item

    setattr(update_item, _PATCHED, True)
    return update_item


def install() -> None:
    """Make new tables with a sort key compact (idempotent), in this process, before the
    server answers."""
    if not getattr(Table.__init__, _PATCHED, False):
        Table.__init__ = _table_init(Table.__init__)
    if not getattr(DynamoDBBackend.update_item, _PATCHED, False):
        DynamoDBBackend.update_item = _update_item(DynamoDBBackend.update_item)
