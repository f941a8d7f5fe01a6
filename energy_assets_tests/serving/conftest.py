"""The container's inference server, really listening on a free local port."""

from __future__ import annotations

import pytest

from energy_assets.background import ASGIThread
from energy_assets.serving.server import create_app
from energy_assets_tests.serving.helpers import broken_bundle, make_bundle


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return make_bundle().save(tmp_path_factory.mktemp("model"))


def _serve(model_dir):
    server = ASGIThread().start(create_app(model_dir))
    return server


@pytest.fixture(scope="session")
def container_url(model_dir):
    server = _serve(model_dir)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def broken_container_url(tmp_path_factory):
    server = _serve(broken_bundle().save(tmp_path_factory.mktemp("broken")))
    yield server.url
    server.stop()
