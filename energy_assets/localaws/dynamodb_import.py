"""DynamoDB ImportTable, fast enough to seed a million items, and answered as AWS answers it;
and moto's item constructor made linear for every write.

moto 5.2's import parses each S3 object with a pure-Python JSON parser and writes each item
through ``Table.put_item`` (whose item-size check is quadratic in the number of attributes):
about 4,600 items/s here, four minutes for a 1,000-meter, 3-year table. This replaces the work
of moto's ``TableImport`` thread: each line is read with the standard ``json`` module and the
item is built once, with the checks AWS makes on an imported item (key attributes present, of
the table's types, not empty; at most 400 KB), and stored as moto stores items. An item that
fails them is counted in ``ErrorCount`` and skipped (the import then ends FAILED, as moto's
does); duplicate keys overwrite, the later line winning, as on AWS.

Into a compact table (``dynamodb_store``: every table with a sort key) no item is built: a line
of string and number values without escapes or spaces (what ``resources/table_load`` writes)
is stored from its text (the line with its values emptied names its layout, checked once; one
regex finds the values, which are the encoding's pieces as they are); any other line is parsed
and encoded from its record. Either way the same checks apply and the same items result.

Every other write builds moto's ``Item``, whose attribute dict re-measures the whole item at
each attribute it adds (quadratic; a fifth of a BatchWriteItem's time here). ``install`` gives
``Item`` a constructor that measures once and refuses the same items (over moto's 405,000-byte
limit, ``ItemSizeTooLarge``).

Also as on AWS: ImportTable for a table that exists is refused at once
(``ResourceInUseException``); input formats other than DYNAMODB_JSON and ZSTD compression are
refused with a ValidationException (the local AWS reads only those); DescribeImport answers
``StartTime``/``EndTime``, ``TableId``, the source, format and creation parameters, and
``ProcessedSizeBytes`` in bytes.
"""

from __future__ import annotations

import gc
import json
import re
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import gzip_decompress
from moto.dynamodb.exceptions import (
    ItemSizeTooLarge,
    MockValidationException,
    ResourceInUseException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table_import import TableImport
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.responses import DynamoHandler

from energy_assets.localaws import dynamodb_store

MAX_ITEM_BYTES = 400 * 1024
MOTO_ITEM_LIMIT = 405_000  # moto's own limit, between AWS's documented 400 KB and its real one
_PATCHED = "_energy_assets_import"
_NUMBER = re.compile(rb"[0-9.eE+\-]+")  # number text as dynamodb_store keeps it
_SCALARS = frozenset(("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"))


class ItemRefused(ValueError):
    pass


def _value(attribute: dict) -> DynamoType:
    """A DynamoType without the per-attribute work of its constructor (scalars and sets)."""
    if len(attribute) != 1:
        raise ItemRefused(f"an attribute value has {len(attribute)} types: {attribute}")
    ((kind, value),) = attribute.items()
    if kind not in _SCALARS:
        return DynamoType(attribute)  # lists and maps: moto builds their children
    built = DynamoType.__new__(DynamoType)
    built.type, built.value = kind, value
    return built


def build_item(table, attrs: dict[str, Any], line_bytes: int) -> Item:
    """An imported item, checked as AWS checks one."""
    if not isinstance(attrs, dict):
        raise ItemRefused("the line has no Item object")
    keys = [(table.hash_key_attr, table.hash_key_type)]
    if table.range_key_attr:
        keys.append((table.range_key_attr, table.range_key_type))
    values = {name: _value(attribute) for name, attribute in attrs.items()}
    for name, kind in keys:
        value = values.get(name)
        if value is None:
            raise ItemRefused(f"the item has no key attribute {name}")
        if value.type != kind:
            raise ItemRefused(f"key attribute {name} is {value.type}, the table's is {kind}")
        if value.value in ("", None):
            raise ItemRefused(f"key attribute {name} is empty")
    if line_bytes > MAX_ITEM_BYTES:  # JSON is never smaller than the item: measure exactly
        size = sum(len(k.encode()) + v.size() for k, v in values.items())
        if size > MAX_ITEM_BYTES:
            raise ItemRefused(f"the item is {size} bytes, over DynamoDB's 400 KB")
    item = Item.__new__(Item)
    item.hash_key = values[table.hash_key_attr]
    item.range_key = values[table.range_key_attr] if table.range_key_attr else None
    stored = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(stored, values)
    item.attrs = stored
    return item


def item_init(self: Item, hash_key, range_key, attrs: dict[str, Any]) -> None:
    """``Item.__init__`` measuring the item once (moto's measures it at every attribute)."""
    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    if sum(bytesize(key) + value.size() for key, value in values.items()) > MOTO_ITEM_LIMIT:
        raise ItemSizeTooLarge
    stored = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(stored, values)
    self.attrs = stored


setattr(item_init, _PATCHED, True)


def _process(self: TableImport, s3_backend, bucket) -> None:
    """``TableImport._process_s3_files``, fast (see the module doc)."""
    from moto.dynamodb.models import dynamodb_backends

    dynamo = dynamodb_backends[self.account_id][self.region_name]
    self.table = dynamo.create_table(
        name=self.table_name,
        billing_mode=self.billing_mode,
        throughput=self.throughput,
        schema=self.key_schema,
        global_indexes=self.global_indexes,
        indexes=None,
        attr=self.attrs,
        sse_specification=None,
        streams=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    table = self.table
    keys, _, _, _ = s3_backend.list_objects(
        bucket, prefix=self.s3_source.get("S3KeyPrefix"), delimiter=None, marker=None, max_keys=None
    )
    ranged = table.range_key_attr is not None
    collecting = gc.isenabled()
    gc.disable()  # millions of new objects: each collection would walk every one of them
    try:
        _load(self, table, keys, ranged)
    finally:
        if collecting:
            gc.enable()
        gc.freeze()  # the table's items live on: later collections need not walk them again
        dynamodb_store.release_memory()
    if self.error_count:
        self.failure_code = "ItemValidationError"
    self.status = "COMPLETED" if self.error_count == 0 else "FAILED"
    self.end_time = datetime.now(UTC)


def _records(data: bytes) -> Iterator[tuple[bytes, Any]]:
    """(line, parsed record or the error) of each non-blank line: parsed by one ``json.loads``
    per 10,000 lines (line by line where such a block has a bad line), a block at a time (the
    parsed records of a 250,000-line object at once would be about 250 MB)."""
    lines = [line for line in data.splitlines() if line.strip()]
    for start in range(0, len(lines), 10_000):
        block = lines[start : start + 10_000]
        try:
            parsed = json.loads(b"[" + b",".join(block) + b"]")
        except ValueError:
            parsed = None
        if parsed is not None and len(parsed) == len(block):
            yield from zip(block, parsed, strict=True)
            continue
        for line in block:
            try:
                yield line, json.loads(line)
            except ValueError as error:
                yield line, error


def check_json(table, attrs: Any, line_bytes: int) -> None:
    """The checks ``build_item`` makes, on the item's DynamoDB JSON, without building it."""
    if not isinstance(attrs, dict):
        raise ItemRefused("the line has no Item object")
    for attribute in attrs.values():
        if not isinstance(attribute, dict) or len(attribute) != 1:
            build_item(table, attrs, line_bytes)  # raises its error
    for name, kind in (
        (table.hash_key_attr, table.hash_key_type),
        (table.range_key_attr, table.range_key_type),
    ):
        attribute = attrs.get(name)
        if attribute is None:
            raise ItemRefused(f"the item has no key attribute {name}")
        ((given, value),) = attribute.items()
        if given != kind:
            raise ItemRefused(f"key attribute {name} is {given}, the table's is {kind}")
        if value in ("", None):
            raise ItemRefused(f"key attribute {name} is empty")
    if line_bytes > MAX_ITEM_BYTES:
        build_item(table, attrs, line_bytes)  # measures exactly, raises when too large


# the text of a string or number value in a line without escapes or spaces: ``{"S":"text"}``
_VALUE = re.compile(rb'(?<=\{"[SN]":")[^"\\\x00-\x1f]*(?="\})')
_MAX_LAYOUTS = 1_000


class _Layout:
    """What a line's skeleton (its text with every value emptied) says about its items: the
    shape's encoding prefix and which values are the keys, the numbers and the stored ones."""

    __slots__ = ("prefix", "hash", "range", "numbers", "stored")

    @classmethod
    def of(cls, table, skeleton: bytes) -> _Layout | None:
        """The layout of lines with this skeleton, or None when they need the parser: not one
        ``{"Item": {...}}`` of distinct string and number attributes, keys of other types."""
        try:
            record = json.loads(skeleton)
        except ValueError:
            return None
        attrs = record.get("Item") if isinstance(record, dict) and len(record) == 1 else None
        if not isinstance(attrs, dict) or len(_VALUE.findall(skeleton)) != len(attrs):
            return None
        kinds = []
        for attribute in attrs.values():
            if not isinstance(attribute, dict) or list(attribute.values()) != [""]:
                return None
            kinds.append(next(iter(attribute)))
        names = list(attrs)
        if any(kind not in ("S", "N") for kind in kinds) or table.hash_key_type != "S":
            return None
        if table.range_key_type != "S" or table.hash_key_attr not in attrs:
            return None
        if table.range_key_attr not in attrs:
            return None
        layout = cls()
        layout.hash = names.index(table.hash_key_attr)
        layout.range = names.index(table.range_key_attr)
        keys = (layout.hash, layout.range)
        layout.stored = [i for i in range(len(names)) if i not in keys]
        layout.numbers = [i for i in layout.stored if kinds[i] == "N"]
        shape = []
        for position, (name, kind) in enumerate(zip(names, kinds, strict=True)):
            marker = {layout.hash: "#H", layout.range: "#R"}.get(position, kind)
            shape += (name, marker)
        layout.prefix = dynamodb_store.Codec.shape_prefix(tuple(shape))
        return layout


def _load_compact(self: TableImport, table, keys) -> None:
    """``_load`` into a compact table (``dynamodb_store``). A line of string and number
    attributes without escapes (what ``table_load`` writes) is stored from its text: its
    values are the encoding's pieces as they are, no record is built; any other line is parsed
    and encoded from its record, with the checks of ``build_item``."""
    encode = table.items.codec.encode_json
    partitions: dict[Any, dynamodb_store.Partition] = {}
    layouts: dict[bytes, _Layout | None] = {}

    def partition_of(kind: str, value) -> dynamodb_store.Partition:
        found = partitions.get((kind, value))
        if found is None:
            found = partitions[(kind, value)] = table.items[_value({kind: value})]
        return found

    for key in keys:
        data = key.value
        if self.compression_type == "GZIP":
            data = gzip_decompress(data)
        for line in data.splitlines():
            if not line.strip():
                continue
            self.processed_count += 1
            self.processed_bytes += len(line)
            if len(line) <= MAX_ITEM_BYTES and line.isascii() and b"\\" not in line:
                skeleton = _VALUE.sub(b"", line)
                layout = layouts.get(skeleton, False)
                if layout is False:
                    layout = _Layout.of(table, skeleton) if len(layouts) < _MAX_LAYOUTS else None
                    layouts[skeleton] = layout
                if layout is not None:
                    values = _VALUE.findall(line)
                    hashed, ranged = values[layout.hash], values[layout.range]
                    if (
                        hashed
                        and ranged
                        and all(_NUMBER.fullmatch(values[i]) for i in layout.numbers)
                    ):
                        stored = b"\x1f".join([values[i] for i in layout.stored])
                        partition = partition_of("S", hashed.decode("ascii"))
                        partition.rows[sys.intern(ranged.decode("ascii"))] = layout.prefix + stored
                        self.imported_count += 1
                        continue
            try:
                record = json.loads(line)
                attrs = record.get("Item")
                check_json(table, attrs, len(line))
                encoded = encode(attrs)
            except (ItemRefused, ValueError, AttributeError, TypeError) as error:
                self.error_count += 1
                self.failure_message = f"{key.name}: {error}"
                continue
            ((kind, value),) = attrs[table.hash_key_attr].items()
            partition = partition_of(kind, value)
            plain = dynamodb_store.plain_key(_value(attrs[table.range_key_attr]))
            partition.rows[sys.intern(plain) if type(plain) is str else plain] = encoded
            self.imported_count += 1


def _load(self: TableImport, table, keys, ranged: bool) -> None:
    if dynamodb_store.is_compact(table):
        return _load_compact(self, table, keys)
    partitions: dict[tuple, DynamoType] = {}  # one key object per partition, as moto's dict keys
    groups: dict[tuple, dict] = {}  # a partition's items in the table (no DynamoType hashing)
    for key in keys:
        data = key.value
        if self.compression_type == "GZIP":
            data = gzip_decompress(data)
        for line, record in _records(data):
            self.processed_count += 1
            self.processed_bytes += len(line)
            try:
                if isinstance(record, ValueError):
                    raise record
                item = build_item(table, record.get("Item"), len(line))
            except (ItemRefused, ValueError, AttributeError, TypeError) as error:
                self.error_count += 1
                self.failure_message = f"{key.name}: {error}"
                continue
            partition = (item.hash_key.type, item.hash_key.value)
            shared = partitions.get(partition)
            if shared is None:
                shared = partitions[partition] = item.hash_key
            item.hash_key = shared
            if ranged:
                group = groups.get(partition)
                if group is None:
                    group = groups[partition] = table.items[shared]
                group[item.range_key] = item
            else:
                table.items[shared] = item
            self.imported_count += 1


def _response(original):
    def response(self: TableImport) -> dict[str, Any]:
        answer = {k: v for k, v in original(self).items() if v is not None}
        answer["StartTime"] = self.__dict__.get("start_time")
        if self.__dict__.get("end_time") is None and self.status != "IN_PROGRESS":
            self.end_time = datetime.now(UTC)
        if self.__dict__.get("end_time") is not None:
            answer["EndTime"] = self.end_time
        answer["TableId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, answer["TableArn"]))
        answer["S3BucketSource"] = dict(self.s3_source)
        answer["InputFormat"] = self.__dict__.get("input_format", "DYNAMODB_JSON")
        answer["InputCompressionType"] = self.compression_type or "NONE"
        parameters = {
            "TableName": self.table_name,
            "AttributeDefinitions": self.attrs,
            "KeySchema": self.key_schema,
            "BillingMode": self.billing_mode,
        }
        if self.throughput:
            parameters["ProvisionedThroughput"] = self.throughput
        if self.global_indexes:
            parameters["GlobalSecondaryIndexes"] = self.global_indexes
        answer["TableCreationParameters"] = parameters
        if self.__dict__.get("client_token"):
            answer["ClientToken"] = self.client_token
        return {k: v for k, v in answer.items() if v is not None}

    setattr(response, _PATCHED, True)
    return response


def _import_table(original):
    def import_table(self: DynamoDBBackend, **kwargs) -> TableImport:
        name = kwargs["table_name"]
        if name in self.tables:
            raise ResourceInUseException(f"Table already exists: {name}")
        if (kwargs.get("input_format") or "DYNAMODB_JSON") != "DYNAMODB_JSON":
            raise MockValidationException("the local AWS imports DYNAMODB_JSON input only")
        if kwargs.get("compression_type") not in (None, "NONE", "GZIP"):
            raise MockValidationException("the local AWS imports GZIP or uncompressed input only")
        started = datetime.now(UTC)
        job = original(self, **kwargs)
        job.start_time = started
        job.input_format = kwargs.get("input_format") or "DYNAMODB_JSON"
        return job

    setattr(import_table, _PATCHED, True)
    return import_table


def _import_request(original):
    def import_table(self: DynamoHandler):
        if self.body.get("InputFormatOptions"):
            raise MockValidationException("InputFormatOptions apply to CSV input only")
        return original(self)

    setattr(import_table, _PATCHED, True)
    return import_table


def install() -> None:
    """Speed up and complete moto's ImportTable (idempotent), in this process."""
    if not getattr(Item.__init__, _PATCHED, False):
        Item.__init__ = item_init
    if getattr(TableImport.response, _PATCHED, False):
        return
    TableImport._process_s3_files = _process
    TableImport.response = _response(TableImport.response)
    DynamoDBBackend.import_table = _import_table(DynamoDBBackend.import_table)
    DynamoHandler.import_table = _import_request(DynamoHandler.import_table)
