"""``notebook_instance_job``: the notebook step from the Dagster UI (create or reuse, stop,
delete), with the Jupyter URL in the run's metadata."""

from typing import Literal

import dagster as dg

from energy_assets import layout
from energy_assets.notebooks import instance as nb
from energy_assets.resources import S3Storage, SageMakerResource


class NotebookInstanceConfig(dg.Config):
    action: Literal["create", "stop", "delete"] = "create"
    name: str = nb.DEFAULT_NAME
    instance_type: str = "ml.t3.medium"
    volume_size_gb: int = 5
    poll_seconds: float = 15.0


@dg.op(
    description="Create or reuse (and start) a SageMaker notebook instance with the exploration "
    "notebook in its home folder and this package installed, or stop or delete it.",
)
def notebook_instance(
    context: dg.OpExecutionContext,
    config: NotebookInstanceConfig,
    sagemaker: SageMakerResource,
    storage: S3Storage,
) -> dg.Output:
    client = sagemaker.client()
    spec = nb.InstanceSpec(
        name=config.name,
        instance_type=config.instance_type,
        volume_size_gb=config.volume_size_gb,
        role_arn=sagemaker.role_arn,
    )
    try:
        if config.action == "create":
            found, url = nb.open_instance(
                client,
                storage,
                spec,
                layout.train(layout.explored_shard(storage.shards)),
                poll=config.poll_seconds,
                log=context.log.info,
            )
            metadata = {
                "status": found["NotebookInstanceStatus"],
                "instance_type": found["InstanceType"],
                "volume_size_gb": found.get("VolumeSizeInGB", 0),
                "jupyter": dg.MetadataValue.url(url),
                "notebook": dg.MetadataValue.url(storage.uri(nb.ASSETS_PREFIX)),
            }
        elif config.action == "stop":
            metadata = {"status": nb.stop(client, config.name, poll=config.poll_seconds)}
        else:
            metadata = {"status": nb.delete(client, config.name, poll=config.poll_seconds)}
    except nb.NotebookInstanceError as error:
        raise dg.Failure(str(error)) from None
    context.log.info(f"notebook instance {config.name}: {metadata['status']}")
    if "jupyter" in metadata:
        context.log.info(f"Jupyter: {metadata['jupyter'].value}")
    return dg.Output(None, metadata=metadata)


@dg.job(
    description="The notebook step: a SageMaker notebook instance with the exploration notebook "
    "(config action create | stop | delete, instance type, volume).",
)
def notebook_instance_job():
    notebook_instance()
