"""The ``model.tar.gz`` format that training writes and SageMaker extracts to /opt/ml/model.

Layout (files at the archive root, format version ``energy_assets.ml.bundle.FORMAT_VERSION``):

    manifest.json   format_version, version, created_at, library versions, model name per meter
    models.pkl      fitted per-meter models (plain numbers inside, no statsmodels results)
    history.csv     meter_id,date,usage: the recent actuals forecasts start from
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

from energy_assets.ml.bundle import ForecastBundle


def pack_bundle(bundle: ForecastBundle) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        folder = bundle.save(tmp)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path in sorted(folder.iterdir()):
                archive.add(path, arcname=path.name)
        return buffer.getvalue()


def unpack(artifact: bytes | str | Path, dest: str | Path) -> Path:
    """Extract an artifact, refusing members that would land outside ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    data = artifact if isinstance(artifact, bytes) else Path(artifact).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise ValueError(f"unsafe path in model artifact: {member.name}")
            if not (member.isfile() or member.isdir()):
                raise ValueError(f"unsupported member in model artifact: {member.name}")
        archive.extractall(dest, filter="data")
    return dest


def load_bundle(artifact: bytes) -> ForecastBundle:
    with tempfile.TemporaryDirectory() as tmp:
        return ForecastBundle.load(unpack(artifact, tmp))
