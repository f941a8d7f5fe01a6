"""A SageMaker notebook instance for exploring the training set, created or reused.

The workflow has engineers open a notebook instance and explore ``train.csv`` from S3. This
puts ``exploration.ipynb`` (with this bucket's names filled into its parameters cell) and a
source archive of this package in S3, and gives the instance a lifecycle configuration that
copies the notebook into the home folder (``/home/ec2-user/SageMaker``, the part of the instance
that survives a stop) and installs the package into the ``python3`` conda environment at every
start, in the background, because SageMaker stops an instance whose start scripts run longer
than five minutes. The instance's role is ``ENERGY_ASSETS_SAGEMAKER_ROLE_ARN``.

The same calls run against the local AWS (see ``localaws/notebook_instances.py``).
"""

from __future__ import annotations

import base64
import contextlib
import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from botocore.exceptions import ClientError

from energy_assets import layout
from energy_assets.ml.notebook import inject_parameters
from energy_assets.notebooks import EXPLORATION

HOME = "/home/ec2-user/SageMaker"
ASSETS_PREFIX = "notebook-instance/"
DEFAULT_NAME = "energy-assets-exploration"
PACKAGE_FILES = ("pyproject.toml", "README.md")


class NotebookInstanceError(RuntimeError):
    """The instance cannot be brought to the state asked for (one line)."""


@dataclass(frozen=True)
class InstanceSpec:
    name: str = DEFAULT_NAME
    instance_type: str = "ml.t3.medium"
    volume_size_gb: int = 5
    role_arn: str = ""

    @property
    def lifecycle_config(self) -> str:
        return f"{self.name}-lifecycle"


def package_archive(root: Path | None = None) -> bytes:
    """A source archive of this package that ``pip install`` builds (pyproject, README and the
    ``energy_assets`` tree, without caches)."""
    root = root or Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists():
        raise NotebookInstanceError(
            f"no pyproject.toml in {root}: run from a checkout of energy_assets"
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in PACKAGE_FILES:
            archive.add(root / name, arcname=f"energy_assets/{name}")
        for path in sorted((root / "energy_assets").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.add(path, arcname=f"energy_assets/{path.relative_to(root)}")
    return buffer.getvalue()


def exploration_notebook(bucket: str, train_key: str) -> bytes:
    """The exploration notebook with this bucket's names in its parameters (the instance's
    kernels know nothing of ``ENERGY_ASSETS_BUCKET``)."""
    notebook = nbformat.read(str(EXPLORATION), as_version=4)
    # the features table of the same shard as the training set (``clean/shard=NN/...``)
    shard = train_key.split("/shard=")[1].split("/")[0] if "/shard=" in train_key else None
    features = layout.features(shard)
    inject_parameters(
        notebook, {"BUCKET": bucket, "TRAIN_KEY": train_key, "FEATURES_KEY": features}
    )
    return nbformat.writes(notebook).encode()


def lifecycle_scripts(notebook_uri: str, package_uri: str) -> tuple[str, str]:
    """(on-create, on-start) scripts, run as root by SageMaker."""
    place = (
        "#!/bin/bash\n"
        "# energy_assets: the exploration notebook in the home folder (kept if already there)\n"
        "set -euo pipefail\n"
        f'if [ ! -f "{HOME}/exploration.ipynb" ]; then\n'
        f'  aws s3 cp {notebook_uri} "{HOME}/exploration.ipynb"\n'
        f'  chown ec2-user:ec2-user "{HOME}/exploration.ipynb"\n'
        "fi\n"
    )
    archive = "/tmp/" + package_uri.rsplit("/", 1)[-1]
    install = (
        place + "# energy_assets: install the package into the python3 environment, in the\n"
        "# background (start scripts must finish within five minutes)\n"
        "nohup sudo -u ec2-user -i bash -c '"
        "source /home/ec2-user/anaconda3/bin/activate python3 && "
        f"aws s3 cp {package_uri} {archive} && pip install --quiet {archive}' "
        f'> "{HOME}/.energy-assets-install.log" 2>&1 &\n'
    )
    return place, install


def _content(script: str) -> list[dict[str, str]]:
    return [{"Content": base64.b64encode(script.encode()).decode()}]


def ensure_lifecycle_config(client, name: str, on_create: str, on_start: str) -> str:
    """Create the lifecycle configuration, or update it in place when it exists."""
    try:
        client.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    except ClientError:
        client.create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=name,
            OnCreate=_content(on_create),
            OnStart=_content(on_start),
        )
        return "created"
    client.update_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name,
        OnCreate=_content(on_create),
        OnStart=_content(on_start),
    )
    return "updated"


def describe(client, name: str) -> dict | None:
    try:
        return client.describe_notebook_instance(NotebookInstanceName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationException":
            return None
        raise


def wait_for(
    client, name: str, wanted: str, timeout: float = 900.0, poll: float = 15.0
) -> dict | None:
    """Poll until the instance is ``wanted`` (``Deleted``: gone); ``Failed`` ends the wait."""
    deadline = time.monotonic() + timeout
    while True:
        found = describe(client, name)
        status = found["NotebookInstanceStatus"] if found else "Deleted"
        if status == wanted:
            return found
        if status == "Failed":
            raise NotebookInstanceError(
                f"notebook instance {name} failed: {found.get('FailureReason', 'no reason given')}"
            )
        if time.monotonic() > deadline:
            raise NotebookInstanceError(
                f"notebook instance {name} is {status}, not {wanted}, after {timeout:.0f} s"
            )
        time.sleep(poll)


def create_or_reuse(
    client,
    spec: InstanceSpec,
    notebook_uri: str,
    package_uri: str,
    wait: bool = True,
    poll: float = 15.0,
    log: Callable[[str], None] = print,
) -> dict:
    """The instance InService: created, started, or as it is; the lifecycle configuration
    brought up to date first. A stopped instance takes a new type or volume; a running one
    keeps its own (stop it to change them)."""
    if not spec.role_arn:
        raise NotebookInstanceError("no role: set ENERGY_ASSETS_SAGEMAKER_ROLE_ARN")
    on_create, on_start = lifecycle_scripts(notebook_uri, package_uri)
    done = ensure_lifecycle_config(client, spec.lifecycle_config, on_create, on_start)
    log(f"lifecycle configuration {spec.lifecycle_config} {done}")
    found = describe(client, spec.name)
    status = found["NotebookInstanceStatus"] if found else None
    if status == "Deleting":
        log(f"notebook instance {spec.name} is being deleted; waiting to create it again")
        wait_for(client, spec.name, "Deleted", poll=poll)
        found = status = None
    if status == "Failed":
        raise NotebookInstanceError(
            f"notebook instance {spec.name} failed ({found.get('FailureReason', 'no reason')}); "
            "delete it and create it again"
        )
    if found is None:
        client.create_notebook_instance(
            NotebookInstanceName=spec.name,
            InstanceType=spec.instance_type,
            VolumeSizeInGB=spec.volume_size_gb,
            RoleArn=spec.role_arn,
            LifecycleConfigName=spec.lifecycle_config,
            Tags=[{"Key": "energy-assets", "Value": "exploration"}],
        )
        log(
            f"notebook instance {spec.name} created "
            f"({spec.instance_type}, {spec.volume_size_gb} GB)"
        )
    else:
        if status == "Stopping":
            wait_for(client, spec.name, "Stopped", poll=poll)
            status = "Stopped"
        if status == "Stopped":
            changes = _changes(found, spec)
            if changes:
                client.update_notebook_instance(NotebookInstanceName=spec.name, **changes)
                log(f"notebook instance {spec.name} updated: {', '.join(changes)}")
            client.start_notebook_instance(NotebookInstanceName=spec.name)
            log(f"notebook instance {spec.name} started")
        else:
            log(f"notebook instance {spec.name} reused ({status})")
            if _changes(found, spec):
                log(
                    f"note: it runs as {found['InstanceType']} with "
                    f"{found.get('VolumeSizeInGB')} GB; stop it to change that"
                )
    if not wait:
        return describe(client, spec.name)
    return wait_for(client, spec.name, "InService", poll=poll)


def _changes(found: dict, spec: InstanceSpec) -> dict:
    changes = {}
    if found.get("InstanceType") != spec.instance_type:
        changes["InstanceType"] = spec.instance_type
    if (found.get("VolumeSizeInGB") or 0) < spec.volume_size_gb:  # volumes only grow
        changes["VolumeSizeInGB"] = spec.volume_size_gb
    if found.get("NotebookInstanceLifecycleConfigName") != spec.lifecycle_config:
        changes["LifecycleConfigName"] = spec.lifecycle_config
    if found.get("RoleArn") != spec.role_arn:
        changes["RoleArn"] = spec.role_arn
    return changes


def presigned_url(client, name: str, session_seconds: int = 1800) -> str:
    """The Jupyter URL of an InService instance (CreatePresignedNotebookInstanceUrl)."""
    found = describe(client, name)
    if found is None:
        raise NotebookInstanceError(f"no notebook instance {name}: create it first")
    if found["NotebookInstanceStatus"] != "InService":
        raise NotebookInstanceError(
            f"notebook instance {name} is {found['NotebookInstanceStatus']}, not InService"
        )
    response = client.create_presigned_notebook_instance_url(
        NotebookInstanceName=name, SessionExpirationDurationInSeconds=session_seconds
    )
    return response["AuthorizedUrl"]


def stop(client, name: str, wait: bool = True, poll: float = 15.0) -> str:
    found = describe(client, name)
    if found is None:
        raise NotebookInstanceError(f"no notebook instance {name}")
    status = found["NotebookInstanceStatus"]
    if status in ("Stopped", "Failed"):
        return status
    if status in ("Pending", "Updating"):
        wait_for(client, name, "InService", poll=poll)
    if status != "Stopping":
        client.stop_notebook_instance(NotebookInstanceName=name)
    if wait:
        wait_for(client, name, "Stopped", poll=poll)
        return "Stopped"
    return "Stopping"


def delete(client, name: str, wait: bool = True, poll: float = 15.0) -> str:
    """Stop if needed, delete the instance and its lifecycle configuration."""
    found = describe(client, name)
    if found is not None:
        stop(client, name, wait=True, poll=poll)
        client.delete_notebook_instance(NotebookInstanceName=name)
        if wait:
            wait_for(client, name, "Deleted", poll=poll)
    config = InstanceSpec(name=name).lifecycle_config
    with contextlib.suppress(ClientError):  # none: the instance was created without ours
        client.delete_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=config)
    return "Deleted" if found is not None else "absent"


def upload_assets(storage, train_key: str) -> tuple[str, str]:
    """The notebook (parameters filled in) and the package archive in S3; their URIs."""
    storage.ensure_bucket()
    notebook = storage.put_bytes(
        f"{ASSETS_PREFIX}exploration.ipynb",
        exploration_notebook(storage.bucket, train_key),
        "application/x-ipynb+json",
    )
    package = storage.put_bytes(
        f"{ASSETS_PREFIX}energy_assets-src.tar.gz", package_archive(), "application/gzip"
    )
    return notebook, package


def open_instance(
    client,
    storage,
    spec: InstanceSpec,
    train_key: str,
    wait: bool = True,
    poll: float = 15.0,
    log: Callable[[str], None] = print,
) -> tuple[dict, str | None]:
    """Upload, create or reuse, wait; the instance and its Jupyter URL (None if not waited)."""
    notebook_uri, package_uri = upload_assets(storage, train_key)
    log(f"notebook {notebook_uri}, package {package_uri}")
    found = create_or_reuse(client, spec, notebook_uri, package_uri, wait=wait, poll=poll, log=log)
    if found["NotebookInstanceStatus"] != "InService":
        return found, None
    return found, presigned_url(client, spec.name)
