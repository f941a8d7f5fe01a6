"""model.tar.gz: SageMaker's layout, a faithful round trip, safe extraction."""

import io
import tarfile

import pytest

from energy_assets.ml.bundle import FORMAT_VERSION
from energy_assets.serving.artifact import load_bundle, pack_bundle, unpack
from energy_assets_tests.serving.helpers import make_bundle


def _tar(*members: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in members:
            member.size = len(data) if member.isfile() else 0
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def test_files_sit_at_the_archive_root():
    with tarfile.open(fileobj=io.BytesIO(pack_bundle(make_bundle())), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == ["history.csv", "manifest.json", "models.pkl"]


def test_round_trip_forecasts_the_same(tmp_path):
    bundle = make_bundle("v7")
    data = pack_bundle(bundle)
    loaded = load_bundle(data)
    assert loaded.version == "v7" and loaded.meters == ["m1", "m2"]
    assert loaded.forecast("m1", 14).equals(bundle.forecast("m1", 14))
    path = tmp_path / "model.tar.gz"
    path.write_bytes(data)
    folder = unpack(path, tmp_path / "opt-ml-model")
    assert f'"format_version": {FORMAT_VERSION}' in (folder / "manifest.json").read_text()


def test_packing_is_reproducible():
    bundle = make_bundle()
    assert pack_bundle(bundle) == pack_bundle(bundle)


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("/etc/evil"),
        tarfile.TarInfo("../evil"),
        tarfile.TarInfo("a/../../evil"),
    ],
)
def test_unsafe_paths_are_refused(tmp_path, member):
    with pytest.raises(ValueError, match="unsafe path"):
        unpack(_tar(member), tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_links_are_refused(tmp_path):
    link = tarfile.TarInfo("manifest.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(ValueError, match="files and folders only"):
        unpack(_tar(link), tmp_path)


def test_not_a_tar_archive(tmp_path):
    with pytest.raises(ValueError, match="not a readable tar archive"):
        unpack(b"definitely not gzip", tmp_path)
