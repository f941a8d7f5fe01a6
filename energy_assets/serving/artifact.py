"""The ``model.tar.gz`` format that training writes and SageMaker extracts to /opt/ml/model.

SageMaker downloads the model's ``ModelDataUrl`` and extracts it into ``/opt/ml/model`` before
the container starts, so the files sit at the archive root (no leading folder)::

    manifest.json   format_version (= energy_assets.ml.bundle.FORMAT_VERSION, now 2), version,
                    created_at, library versions, the model name per meter, the training facts
                    (``training``), ``note`` and ``instead_of`` (a baseline's reason and the
                    version it stands in for), ``notes`` (meter -> why seasonal naive serves
                    it: the per-meter gate; absent in older artifacts)
    models.pkl      fitted per-meter models (plain numbers inside, no statsmodels results),
                    selection table and interval half-widths; pickle protocol 5
    history.csv     meter_id,date,usage: the recent actuals forecasts start from
    covariates.csv  meter_id,date and the exogenous columns (when training had temperature)

``ForecastBundle.load`` reads formats 1 (the facts in a free-form ``extra``) and 2 and refuses
any other ``format_version``: a container only serves artifacts of the formats it was built
for, and a rollback may name a version trained before format 2. Packing is reproducible (fixed
mtimes and owners), so packing the same bundle twice gives the same bytes and the same S3 ETag.

An artifact is identified by the SHA-256 of its bytes: recorded in the object's S3 metadata when
training writes it and in the model package's metadata when it is registered, and checked
before any deploy or rollback touches the endpoint (``verify_artifact``): a ``model.tar.gz``
overwritten in S3 after registration is refused, not served.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from energy_assets.ml.bundle import FORMAT_VERSION, ForecastBundle

__all__ = [
    "FORMAT_VERSION",
    "ArtifactMismatch",
    "artifact_sha256",
    "load_bundle",
    "pack_bundle",
    "unpack",
    "verify_artifact",
]


class ArtifactMismatch(ValueError):
    """The artifact's bytes are not the ones recorded when it was registered."""


def artifact_sha256(data: bytes) -> str:
    """The artifact's identity: the SHA-256 of its bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def verify_artifact(data: bytes, expected: str | None, where: str) -> str:
    """Return the artifact's SHA-256 when it is the ``expected`` one; raise otherwise.

    ``expected`` None means nothing was recorded: such an artifact cannot be verified and is
    refused as well (a deploy must know what it serves)."""
    if not expected:
        raise ArtifactMismatch(f"{where} has no checksum recorded at registration")
    actual = artifact_sha256(data)
    if actual != expected:
        raise ArtifactMismatch(
            f"{where} changed since registration (SHA-256 {actual[:12]}…, "
            f"registered {expected[:12]}…)"
        )
    return actual


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def pack_bundle(bundle: ForecastBundle) -> bytes:
    """The bundle as ``model.tar.gz`` bytes, files at the archive root."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = bundle.save(tmp)
        buffer = io.BytesIO()
        with (
            gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
        ):
            for path in sorted(folder.iterdir()):
                archive.add(path, arcname=path.name, recursive=False, filter=_normalised)
        return buffer.getvalue()


def _check_member(member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or "\\" in member.name:
        raise ValueError(f"unsafe path in model artifact: {member.name!r}")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"model artifacts hold files and folders only, not {member.name!r}")


def unpack(artifact: bytes | str | Path, dest: str | Path) -> Path:
    """Extract ``model.tar.gz`` (bytes or a file path) into ``dest`` and return ``dest``.

    Every member is checked before anything is written: absolute paths, ``..`` and links,
    devices or fifos are refused, so a crafted archive cannot write outside ``dest``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    data = artifact if isinstance(artifact, bytes | bytearray) else Path(artifact).read_bytes()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            members = archive.getmembers()
            for member in members:
                _check_member(member)
            archive.extractall(dest, members=members, filter="data")
    except tarfile.TarError as error:
        raise ValueError(f"model artifact is not a readable tar archive: {error}") from error
    return dest


def load_bundle(artifact: bytes | str | Path) -> ForecastBundle:
    """The ``ForecastBundle`` inside ``model.tar.gz`` bytes (or a file path)."""
    with tempfile.TemporaryDirectory() as tmp:
        return ForecastBundle.load(unpack(artifact, tmp))


class ArtifactStore(Protocol):
    """Where artifacts are kept, by ``s3://`` URI (``energy_assets.resources.S3Storage``)."""

    def key_of(self, uri: str) -> str: ...

    def get_bytes(self, key: str) -> bytes: ...


def bundle_at(storage: ArtifactStore, uri: str) -> ForecastBundle:
    """The ``ForecastBundle`` of the artifact at ``uri`` (checked against its set's manifest by
    ``get_bytes``): what evaluation judges, the champion and challenger compared at deployment
    and the model monitoring scores."""
    return load_bundle(storage.get_bytes(storage.key_of(uri)))
