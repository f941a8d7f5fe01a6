"""Notebook instances for moto's SageMaker: the calls moto 5.2 lacks, and a Jupyter behind the
URL.

moto has Create/Describe/Start/Stop/DeleteNotebookInstance and Create/Describe/Delete of
lifecycle configurations, but not UpdateNotebookInstanceLifecycleConfig,
UpdateNotebookInstance or CreatePresignedNotebookInstanceUrl; they are added here the way
``moto_patches`` adds UpdateEndpoint.

CreatePresignedNotebookInstanceUrl answers with a URL that works: the local AWS runs a local
Jupyter (``notebooks/jupyter.py``) for the InService instance, in a home folder of its own that
lives as long as the instance (a stop keeps it, a delete removes it). No lifecycle script runs
(there is no machine); the local AWS performs their ``aws s3 cp s3://… /home/ec2-user/SageMaker/…``
steps into that folder (files already there are kept), and the package is already installed in
its environment. Kernels get the local AWS's ``AWS_*`` variables. StopNotebookInstance and
DeleteNotebookInstance stop that Jupyter; so does stopping the local AWS.
"""

from __future__ import annotations

import base64
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import boto3
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

_COPY = re.compile(r'aws s3 cp (s3://[^\s"]+) "?/home/ec2-user/SageMaker/([^\s"]+)"?')
_lock = threading.RLock()
_config: dict[str, Any] = {}
_homes: dict[tuple[str, str, str], Path] = {}
_jupyters: dict[tuple[str, str, str], Any] = {}  # LocalJupyter


def configure(aws_url: str, env: dict[str, str]) -> None:
    """Where the instance Jupyters find the local AWS (its URL and client environment)."""
    _config.update(aws_url=aws_url, env=dict(env))


def _key(backend: SageMakerModelBackend, name: str) -> tuple[str, str, str]:
    return (backend.account_id, backend.region_name, name)


def _scripts(backend: SageMakerModelBackend, config_name: str | None) -> list[str]:
    config = backend.notebook_instance_lifecycle_configurations.get(config_name or "")
    if config is None:
        return []
    parts = (config.on_create or []) + (config.on_start or [])
    return [base64.b64decode(p.get("Content", "")).decode(errors="replace") for p in parts]


def _place_files(backend: SageMakerModelBackend, instance, home: Path) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=_config["aws_url"],
        region_name=backend.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for script in _scripts(backend, instance.lifecycle_config_name):
        for uri, relative in _COPY.findall(script):
            target = home / relative
            if target.exists():
                continue
            bucket, key = uri[5:].split("/", 1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _stop_jupyter(key: tuple[str, str, str]) -> None:
    jupyter = _jupyters.pop(key, None)
    if jupyter is not None:
        jupyter.stop()


def update_notebook_instance_lifecycle_config(
    self: SageMakerModelBackend, name: str, on_create: list | None, on_start: list | None
) -> None:
    config = self.notebook_instance_lifecycle_configurations.get(name)
    if config is None:
        raise ValidationError(
            message=f"Unable to update Notebook Instance Lifecycle Config '{name}'. "
            "(Details: Notebook Instance Lifecycle Config does not exist.)"
        )
    if on_create is not None:
        config.on_create = on_create
    if on_start is not None:
        config.on_start = on_start
    config.last_modified_time = utcnow()


def update_notebook_instance(self: SageMakerModelBackend, name: str, **changes: Any) -> None:
    """As on AWS: only a Stopped instance can be updated."""
    instance = self.get_notebook_instance(name)
    if instance.status != "Stopped":
        raise ValidationError(
            message=f"Status ({instance.status}) not in ([Stopped]). Unable to transition to "
            f"(Updating) for Notebook Instance ({instance.arn})"
        )
    if changes.get("instance_type"):
        instance.validate_instance_type(changes["instance_type"])
        instance.instance_type = changes["instance_type"]
    if changes.get("volume_size_in_gb"):
        instance.validate_volume_size_in_gb(changes["volume_size_in_gb"])
        instance.volume_size_in_gb = changes["volume_size_in_gb"]
    if changes.get("role_arn"):
        instance.role_arn = changes["role_arn"]
    if changes.get("lifecycle_config_name"):
        instance.lifecycle_config_name = changes["lifecycle_config_name"]
    if changes.get("disassociate_lifecycle_config"):
        instance.lifecycle_config_name = None
    instance.last_modified_time = utcnow()


def create_presigned_notebook_instance_url(self: SageMakerModelBackend, name: str) -> str:
    instance = self.get_notebook_instance(name)
    if instance.status != "InService":
        raise ValidationError(
            message=f"Notebook Instance {instance.arn} is {instance.status}, not InService"
        )
    if "aws_url" not in _config:
        raise ValidationError(message="the local AWS has no Jupyter for notebook instances")
    from energy_assets.notebooks.jupyter import LocalJupyter  # it imports localaws: not at top

    key = _key(self, name)
    with _lock:
        home = _homes.get(key)
        if home is None:
            home = Path(tempfile.mkdtemp(prefix=f"energy-assets-notebook-{name}-"))
            _homes[key] = home
        jupyter = _jupyters.get(key)
        if jupyter is None or not jupyter.running:
            _place_files(self, instance, home)
            jupyter = LocalJupyter(home, env=_config["env"]).start()
            _jupyters[key] = jupyter
    return jupyter.url


def home_folder(account: str, region: str, name: str) -> Path | None:
    """The local home folder of an instance (tests and diagnostics)."""
    return _homes.get((account, region, name))


def shutdown() -> None:
    """Stop every instance Jupyter and remove the home folders (the local AWS stops)."""
    with _lock:
        for key in list(_jupyters):
            _stop_jupyter(key)
        for home in _homes.values():
            shutil.rmtree(home, ignore_errors=True)
        _homes.clear()


def _wrap_stop(native):
    def stop_notebook_instance(self: SageMakerModelBackend, name: str) -> None:
        native(self, name)
        with _lock:
            _stop_jupyter(_key(self, name))

    stop_notebook_instance._energy_assets = True
    return stop_notebook_instance


def _wrap_delete(native):
    def delete_notebook_instance(self: SageMakerModelBackend, name: str) -> None:
        native(self, name)
        with _lock:
            _stop_jupyter(_key(self, name))
            home = _homes.pop(_key(self, name), None)
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)

    delete_notebook_instance._energy_assets = True
    return delete_notebook_instance


def _update_lifecycle_response(self: SageMakerResponse) -> ActionResult:
    self.sagemaker_backend.update_notebook_instance_lifecycle_config(
        name=self._get_param("NotebookInstanceLifecycleConfigName"),
        on_create=self._get_param("OnCreate"),
        on_start=self._get_param("OnStart"),
    )
    return EmptyResult()


def _update_instance_response(self: SageMakerResponse) -> ActionResult:
    self.sagemaker_backend.update_notebook_instance(
        self._get_param("NotebookInstanceName"),
        instance_type=self._get_param("InstanceType"),
        volume_size_in_gb=self._get_param("VolumeSizeInGB"),
        role_arn=self._get_param("RoleArn"),
        lifecycle_config_name=self._get_param("LifecycleConfigName"),
        disassociate_lifecycle_config=self._get_param("DisassociateLifecycleConfig"),
    )
    return EmptyResult()


def _presigned_url_response(self: SageMakerResponse) -> ActionResult:
    url = self.sagemaker_backend.create_presigned_notebook_instance_url(
        self._get_param("NotebookInstanceName")
    )
    return ActionResult({"AuthorizedUrl": url})


_ADDED = {
    "update_notebook_instance_lifecycle_config": (
        update_notebook_instance_lifecycle_config,
        _update_lifecycle_response,
    ),
    "update_notebook_instance": (update_notebook_instance, _update_instance_response),
    "create_presigned_notebook_instance_url": (
        create_presigned_notebook_instance_url,
        _presigned_url_response,
    ),
}


def apply() -> None:
    """Install the additions (idempotent); calls moto implements itself are left alone."""
    for name, (backend_method, response_method) in _ADDED.items():
        native = SageMakerModelBackend.__dict__.get(name)
        if native is None or native is backend_method:
            setattr(SageMakerModelBackend, name, backend_method)
            setattr(SageMakerResponse, name, response_method)
    for name, wrap in (
        ("stop_notebook_instance", _wrap_stop),
        ("delete_notebook_instance", _wrap_delete),
    ):
        native = SageMakerModelBackend.__dict__[name]
        if not getattr(native, "_energy_assets", False):
            setattr(SageMakerModelBackend, name, wrap(native))
