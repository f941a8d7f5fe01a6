"""DynamoDB ExportTableToPointInTime, DescribeExport and ListExports as AWS answers them, with the
output AWS writes, replacing moto's (moto 5.2 writes one data object without manifests, knows no
incremental export, no ExportTime and a wrong ARN).

Output layout (AWS's "DynamoDB table export output format"), under ``S3Prefix``:

* ``AWSDynamoDB/<ExportId>/_started`` (empty), ``manifest-summary.json``,
  ``manifest-summary.checksum``, ``manifest-files.json`` (JSON lines: ``itemCount``,
  ``md5Checksum``, ``etag``, ``dataFileS3Key`` per data file), ``manifest-files.checksum``;
* data files ``*.json.gz`` (gzip, JSON lines): under ``AWSDynamoDB/<ExportId>/data/`` for a full
  export, one ``{"Item": {...}}`` per item; under the prefix's shared ``AWSDynamoDB/data/`` for
  an incremental export, one record per item written in the window: ``Metadata``
  (``WriteTimestampMicros``), ``Keys``, ``NewImage`` (absent when the item was deleted) and, with
  ``NEW_AND_OLD_IMAGES`` (the default), ``OldImage`` (absent when the item is new). An item
  written several times in the window is one record: its image before the window and after it;
  one created and deleted within it is none.
* Items are split over data files by their partition key's hash, as AWS splits them by the
  table's partitions (every item of a meter in one file): at least four files (empty ones
  included, as AWS writes an empty file for an empty partition), one more per
  ``ITEMS_PER_FILE`` items.

Times follow AWS: the export's times are whole milliseconds (what clients send and read back);
a full export is the table's state at ``ExportTime`` (default: now), rebuilt from the write log
(``write_log.py``) when that time is past; an incremental export covers ``[ExportFromTime,
ExportToTime)``, at most 24 hours, and both need point-in-time recovery, enabled before the
times asked. Unlike AWS, an incremental window may be shorter than 15 minutes (so tests need not
wait). ``ExportFormat=ION`` and ``FilterSpecification`` are refused with a ValidationException.
Exports run in a thread and go IN_PROGRESS -> COMPLETED (or FAILED, e.g. ``S3NoSuchBucket``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import (
    ERROR_TYPE_PREFIX,
    MockValidationException,
    PointInTimeRecoveryUnavailable,
    TableNotFoundException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from energy_assets.localaws import dynamodb_store, write_log

ITEMS_PER_FILE = 250_000
MIN_FILES = 4
MAX_INCREMENTAL_WINDOW = timedelta(hours=24)
_SEPARATORS = (",", ":")
_PATCHED = "_energy_assets_exports"


class ExportNotFound(JsonRESTError):
    def __init__(self, arn: str):
        super().__init__(ERROR_TYPE_PREFIX + "ExportNotFoundException", f"Export not found: {arn}")


class InvalidExportTime(JsonRESTError):
    def __init__(self, message: str):
        super().__init__(ERROR_TYPE_PREFIX + "InvalidExportTimeException", message)


class IdempotentMismatch(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
            "ClientToken was used before with different parameters",
        )


def _millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000 + 0.5)


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _time(value: Any) -> datetime | None:
    """A request's timestamp (epoch seconds, as botocore sends it for DynamoDB)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _partition(part_json: str, files: int) -> int:
    return zlib.crc32(part_json.encode()) % files


def _file_count(items: int) -> int:
    return max(MIN_FILES, math.ceil(items / ITEMS_PER_FILE))


def _data_file_name() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode().lower().rstrip("=") + ".json.gz"


class TableExportJob(threading.Thread):
    """One export: its request, its state as DescribeExport shows it, and the work."""

    def __init__(self, backend: DynamoDBBackend, table: Table, request: dict[str, Any]):
        super().__init__(name="dynamodb-export", daemon=True)
        self.backend = backend
        self.table = table
        self.request = request
        now = datetime.now(UTC)
        self.start_time = now
        self.export_id = f"{int(now.timestamp() * 1000):014d}-{secrets.token_hex(4)}"
        self.arn = f"{table.table_arn}/export/{self.export_id}"
        self.export_type = request.get("ExportType") or "FULL_EXPORT"
        self.bucket = request["S3Bucket"]
        self.prefix = (request.get("S3Prefix") or "").strip("/")
        self.account = request.get("S3BucketOwner") or backend.account_id
        self.status = "IN_PROGRESS"
        self.end_time: datetime | None = None
        self.failure: tuple[str, str] | None = None
        self.item_count = 0
        self.billed_bytes = 0
        self.manifest_key: str | None = None
        self.incremental: dict[str, Any] | None = None
        self.export_time = _millis(now)
        self.first_answer: dict[str, Any] | None = None  # ExportTableToPointInTime's answer
        if self.export_type == "INCREMENTAL_EXPORT":
            spec = request.get("IncrementalExportSpecification") or {}
            self.from_time = _millis(_time(spec.get("ExportFromTime")))
            self.to_time = _millis(_time(spec.get("ExportToTime")) or now)
            self.view = spec.get("ExportViewType") or "NEW_AND_OLD_IMAGES"
            self.incremental = {
                "ExportFromTime": self.from_time,
                "ExportToTime": self.to_time,
                "ExportViewType": self.view,
            }
            self.export_time = self.to_time
        elif request.get("ExportTime") is not None:
            self.export_time = _millis(_time(request["ExportTime"]))

    # -- the answer --

    def description(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ExportArn": self.arn,
            "ExportStatus": self.status,
            "StartTime": self.start_time,
            "TableArn": self.table.table_arn,
            "TableId": table_uuid(self.table),
            "ExportTime": self.export_time,
            "S3Bucket": self.bucket,
            "S3BucketOwner": self.account,
            "S3Prefix": self.prefix,
            "ExportFormat": self.request.get("ExportFormat") or "DYNAMODB_JSON",
            "ExportType": self.export_type,
            "BilledSizeBytes": self.billed_bytes,
            "ItemCount": self.item_count,
        }
        for member in ("ClientToken", "S3SseAlgorithm", "S3SseKmsKeyId"):
            if self.request.get(member):
                answer[member] = self.request[member]
        if self.incremental:
            answer["IncrementalExportSpecification"] = dict(self.incremental)
        if self.end_time is not None:
            answer["EndTime"] = self.end_time
        if self.manifest_key:
            answer["ExportManifest"] = self.manifest_key
        if self.failure:
            answer["FailureCode"], answer["FailureMessage"] = self.failure
        return answer

    def summary(self) -> dict[str, Any]:
        return {"ExportArn": self.arn, "ExportStatus": self.status, "ExportType": self.export_type}

    # -- the work --

    def run(self) -> None:
        from moto.s3.models import s3_backends

        s3 = s3_backends[self.account][self.backend.partition]
        try:
            if self.bucket not in s3.buckets:
                raise _Failure("S3NoSuchBucket", "The specified bucket does not exist")
            self._write(s3)
            dynamodb_store.release_memory()
            self.status = "COMPLETED"
        except _Failure as failure:
            self.failure, self.status = (failure.code, failure.message), "FAILED"
        except Exception as error:  # an emulator bug: the export fails as AWS's would
            self.failure, self.status = ("UNKNOWN", f"{type(error).__name__}: {error}"), "FAILED"
        self.end_time = datetime.now(UTC)

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, "AWSDynamoDB", *parts) if p)

    def _write(self, s3) -> None:
        put = s3.put_object
        put(self.bucket, self._key(self.export_id, "_started"), b"")
        if self.export_type == "INCREMENTAL_EXPORT":
            chunks = _by_file(self._changes())
            folder = self._key("data")
        elif dynamodb_store.is_compact(self.table):
            chunks = self._compact_files()
            folder = self._key(self.export_id, "data")
        else:
            chunks = _by_file(self._items())
            folder = self._key(self.export_id, "data")
        manifest = []
        for chunk in chunks:
            body, count, size = _gzipped(chunk)
            key = f"{folder}/{_data_file_name()}"
            stored = put(self.bucket, key, body)
            manifest.append(
                {
                    "itemCount": count,
                    "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode(),
                    "etag": stored.etag.strip('"'),
                    "dataFileS3Key": key,
                }
            )
            self.billed_bytes += size
            self.item_count += count
        files_body = "".join(json.dumps(m) + "\n" for m in manifest).encode()
        files_key = self._key(self.export_id, "manifest-files.json")
        put(self.bucket, files_key, files_body)
        put(self.bucket, self._key(self.export_id, "manifest-files.checksum"), _md5(files_body))
        summary = json.dumps(self._manifest_summary(files_key), indent=2).encode()
        self.manifest_key = self._key(self.export_id, "manifest-summary.json")
        put(self.bucket, self.manifest_key, summary)
        put(self.bucket, self._key(self.export_id, "manifest-summary.checksum"), _md5(summary))

    def _manifest_summary(self, files_key: str) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "version": "2020-06-30",
            "exportArn": self.arn,
            "startTime": _iso(self.start_time),
            "endTime": _iso(datetime.now(UTC)),
            "tableArn": self.table.table_arn,
            "tableId": table_uuid(self.table),
            "exportTime": _iso(self.export_time),
            "s3Bucket": self.bucket,
            "s3Prefix": self.prefix or None,
            "s3SseAlgorithm": self.request.get("S3SseAlgorithm") or "AES256",
            "s3SseKmsKeyId": self.request.get("S3SseKmsKeyId"),
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": self.billed_bytes,
            "itemCount": self.item_count,
            "outputFormat": "DYNAMODB_JSON",
        }
        if self.incremental:
            summary.update(
                {
                    "version": "2023-08-01",
                    "exportFromTime": _iso(self.from_time),
                    "exportToTime": _iso(self.to_time),
                    "outputView": self.view,
                    "exportType": "INCREMENTAL_EXPORT",
                }
            )
            del summary["exportTime"]
        return summary

    def _items(self) -> list[tuple[str, str]]:
        """(partition key JSON, line) of every item as it was at ``ExportTime``."""
        table = self.table
        if table.range_key_attr:
            items = [i for group in list(table.items.values()) for i in list(group.values())]
        else:
            items = list(table.items.values())
        before = self._before()
        lines = []
        for item in items:
            if before and write_log.key_json(table, item)[0] in before:
                continue  # written since: its image at the time is the log's
            part = json.dumps(item.hash_key.to_json(), separators=_SEPARATORS, default=str)
            lines.append((part, '{"Item":' + write_log.image(item) + "}"))
        for part, old in before.values():
            if old is not None:
                lines.append((part, '{"Item":' + old + "}"))
        return lines

    def _before(self) -> dict[str, tuple[str, str | None]]:
        """key -> (partition JSON, image) of the items written since ``ExportTime``: their
        image at that time (None: absent then), from the write log."""
        before: dict[str, tuple[str, str | None]] = {}
        for _, key, part, old, _new in write_log.log().entries(
            self.table, _micros(self.export_time)
        ):
            before.setdefault(key, (part, old))  # the first write after the time: its old image
        return before

    def _compact_files(self) -> Iterator[Iterator[str]]:
        """The lines of each data file of a full export of a compact table (what ``_items``
        and ``_by_file`` give, in the same order), one file at a time: items are written from
        their encodings without building them, and no list of every line is held."""
        table = self.table
        before = self._before()
        touched = {part for part, _ in before.values()}
        partitions = []
        count = 0
        for key, partition in list(table.items.items()):
            part = json.dumps(key.to_json(), separators=_SEPARATORS, default=str)
            partitions.append((part, partition))
            count += len(partition)
        for key in before:  # an item written since the time is replaced by its old image
            if _holds(table, key):
                count -= 1
        count += sum(1 for _, old in before.values() if old is not None)
        files = _file_count(count)

        def lines(number: int) -> Iterator[str]:
            for part, partition in partitions:
                if _partition(part, files) != number:
                    continue
                if part in touched:  # some items' images are the log's: read them one by one
                    for item in partition.values():
                        if write_log.key_json(table, item)[0] not in before:
                            yield '{"Item":' + write_log.image(item) + "}"
                else:
                    for image in partition.images():
                        yield '{"Item":' + image + "}"
            for part, old in before.values():
                if old is not None and _partition(part, files) == number:
                    yield '{"Item":' + old + "}"

        return (lines(number) for number in range(files))

    def _changes(self) -> list[tuple[str, str]]:
        """(partition key JSON, record) of every item written in the window, net of the window."""
        start, end = _micros(self.from_time), _micros(self.to_time)
        changed: dict[str, list] = {}
        for ts, key, part, old, new in write_log.log().entries(self.table, start, end):
            entry = changed.get(key)
            if entry is None:
                changed[key] = [ts, part, old, new]
            else:
                entry[0], entry[3] = ts, new
        lines = []
        for key, (ts, part, old, new) in changed.items():
            if old is None and new is None:
                continue  # created and deleted within the window
            record = f'{{"Metadata":{{"WriteTimestampMicros":{{"N":"{ts}"}}}},"Keys":{key}'
            if old is not None and self.view == "NEW_AND_OLD_IMAGES":
                record += f',"OldImage":{old}'
            if new is not None:
                record += f',"NewImage":{new}'
            lines.append((part, record + "}"))
        return lines


def _by_file(lines: list[tuple[str, str]]) -> list[list[str]]:
    """Lines grouped into the export's data files by their partition key's hash."""
    files = _file_count(len(lines))
    chunks: list[list[str]] = [[] for _ in range(files)]
    for part, line in lines:
        chunks[_partition(part, files)].append(line)
    return chunks


def _gzipped(lines: Iterable[str]) -> tuple[bytes, int, int]:
    """(gzip of the lines, one a line, level 1; lines; characters) without joining them first."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    out, pending, count, size = [], [], 0, 0
    for line in lines:
        pending.append(line)
        count += 1
        size += len(line)
        if len(pending) == 10_000:
            out.append(packer.compress(("\n".join(pending) + "\n").encode()))
            pending = []
    if pending:
        out.append(packer.compress(("\n".join(pending) + "\n").encode()))
    out.append(packer.flush())
    return b"".join(out), count, size


def _holds(table: Table, key_text: str) -> bool:
    """Whether the table holds an item with this key (DynamoDB-JSON text)."""
    key = json.loads(key_text)
    group = table.items.get(DynamoType(key[table.hash_key_attr]))
    if group is None:
        return False
    if not table.range_key_attr:
        return True
    return DynamoType(key[table.range_key_attr]) in group


class _Failure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _md5(body: bytes) -> bytes:
    return hashlib.md5(body).hexdigest().encode()


def table_uuid(table: Table) -> str:
    """A stable TableId (moto keeps none): derived from the table's ARN and creation time."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, write_log.table_id(table)))


# -- the backend --


def _exports(backend: DynamoDBBackend) -> dict[str, TableExportJob]:
    found = backend.__dict__.get("_energy_assets_exports")
    if found is None:
        found = backend.__dict__.setdefault("_energy_assets_exports", {})
    return found


def _validate_times(table: Table, request: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    recovery = table.continuous_backups.get("PointInTimeRecoveryDescription", {})
    earliest = _time(recovery.get("EarliestRestorableDateTime")) or now
    earliest = _millis(earliest)
    if request.get("ExportType") == "INCREMENTAL_EXPORT":
        spec = request.get("IncrementalExportSpecification") or {}
        start, end = _time(spec.get("ExportFromTime")), _time(spec.get("ExportToTime"))
        if start is None:
            raise MockValidationException(
                "IncrementalExportSpecification.ExportFromTime is required for an "
                "INCREMENTAL_EXPORT"
            )
        end = end or now
        if end <= start:
            raise InvalidExportTime("ExportFromTime must be before ExportToTime")
        if end - start > MAX_INCREMENTAL_WINDOW:
            raise InvalidExportTime(
                "The period between ExportFromTime and ExportToTime must be at most 24 hours"
            )
        if _millis(start) < earliest:
            raise InvalidExportTime(
                f"ExportFromTime {_iso(start)} is before the table's earliest restorable "
                f"time {_iso(earliest)} (point-in-time recovery was enabled then)"
            )
        if end > now:
            raise InvalidExportTime(f"ExportToTime {_iso(end)} is in the future")
        view = spec.get("ExportViewType")
        if view not in (None, "NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            raise MockValidationException(
                f"ExportViewType {view!r} is not NEW_IMAGE or NEW_AND_OLD_IMAGES"
            )
        return
    moment = _time(request.get("ExportTime"))
    if moment is not None and (_millis(moment) < earliest or moment > now):
        raise InvalidExportTime(
            f"ExportTime {_iso(moment)} is outside the point-in-time recovery window "
            f"({_iso(earliest)} to now)"
        )


def export_table(self: DynamoDBBackend, request: dict[str, Any]) -> TableExportJob:
    arn = request.get("TableArn") or ""
    table = next((t for t in self.tables.values() if t.table_arn == arn), None)
    if table is None:
        raise TableNotFoundException(name=arn)
    if (request.get("ExportFormat") or "DYNAMODB_JSON") != "DYNAMODB_JSON":
        raise MockValidationException("the local AWS writes exports in DYNAMODB_JSON only")
    if request.get("FilterSpecification"):
        raise MockValidationException(
            "FilterSpecification is not supported by the local AWS: export the table whole"
        )
    kind = request.get("ExportType") or "FULL_EXPORT"
    if kind not in ("FULL_EXPORT", "INCREMENTAL_EXPORT"):
        raise MockValidationException(
            f"ExportType {kind!r} is not FULL_EXPORT or INCREMENTAL_EXPORT"
        )
    if not write_log.pitr_enabled(table):
        raise PointInTimeRecoveryUnavailable(name=table.name)
    exports = _exports(self)
    token = request.get("ClientToken")
    if token:
        for job in exports.values():
            if job.request.get("ClientToken") == token and job.table is table:
                if job.request != request:
                    raise IdempotentMismatch()
                return job
    _validate_times(table, request)
    job = TableExportJob(self, table, request)
    # AWS answers a new export IN_PROGRESS; a small export may finish before the answer is built
    job.first_answer = job.description()
    exports[job.arn] = job
    job.start()
    return job


def describe_export(self: DynamoDBBackend, export_arn: str) -> TableExportJob:
    job = _exports(self).get(export_arn)
    if job is None:
        raise ExportNotFound(export_arn)
    return job


def list_exports(self: DynamoDBBackend, table_arn: str | None) -> list[TableExportJob]:
    return [
        job for job in _exports(self).values() if not table_arn or job.table.table_arn == table_arn
    ]


# -- the API --


def _export_response(self: DynamoHandler) -> ActionResult:
    job = self.dynamodb_backend.export_table(dict(self.body))
    answer, job.first_answer = job.first_answer or job.description(), None
    return ActionResult({"ExportDescription": answer})


def _describe_response(self: DynamoHandler) -> ActionResult:
    job = self.dynamodb_backend.describe_export(self.body.get("ExportArn", ""))
    return ActionResult({"ExportDescription": job.description()})


def _list_response(self: DynamoHandler) -> ActionResult:
    jobs = self.dynamodb_backend.list_exports(self.body.get("TableArn"))
    limit = int(self.body.get("MaxResults") or 25)
    if not 1 <= limit <= 25:
        raise MockValidationException("MaxResults must be between 1 and 25")
    start = int(self.body.get("NextToken") or 0)
    page = jobs[start : start + limit]
    answer: dict[str, Any] = {"ExportSummaries": [job.summary() for job in page]}
    if start + limit < len(jobs):
        answer["NextToken"] = str(start + limit)
    return ActionResult(answer)


def install() -> None:
    """Replace moto's exports (idempotent), in this process, before the server answers."""
    if getattr(DynamoHandler.export_table_to_point_in_time, _PATCHED, False):
        return
    DynamoDBBackend.export_table = export_table
    DynamoDBBackend.describe_export = describe_export
    DynamoDBBackend.list_exports = list_exports
    for name, method in (
        ("export_table_to_point_in_time", _export_response),
        ("describe_export", _describe_response),
        ("list_exports", _list_response),
    ):
        setattr(method, _PATCHED, True)
        setattr(DynamoHandler, name, method)
