"""The IO manager that hands an asset's value to the assets downstream, through the bucket.

A value (``energy_assets.assets.values``: the model's version, URI and checksum; the objects a
dataset asset wrote) is written as JSON to ``runs/<run id>/<asset>.json`` and named in the
materialization's metadata. A step reads the value of its upstream:

- written in its own run when the upstream step ran in that run (or in the run a re-execution
  continues): two runs in flight never read each other's values;
- otherwise the value of the upstream asset's latest materialization as Dagster records it, the
  one its UI shows as current (a downstream asset materialized on its own).

What a run reads is therefore decided by Dagster's lineage, never by a pointer in the bucket, and
the loaded input names the run whose value it is.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.execution.context.output import RUN_ID_PLACEHOLDER

from energy_assets import layout
from energy_assets.resources.s3 import MissingObject, S3Storage


class RunValueIOManager(dg.ConfigurableIOManager):
    """Values as JSON in the bucket, one object per run and asset."""

    storage: S3Storage

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        asset = context.asset_key.path[-1]
        key = layout.handoff(context.run_id, asset)
        uri = self.storage.put_json(key, {"type": type(obj).__name__, "value": obj.as_dict()})
        context.add_output_metadata({"handed_on": dg.MetadataValue.url(uri)})

    def load_input(self, context: dg.InputContext) -> Any:
        asset = context.asset_key.path[-1]
        run_id, how = self._source_run(context, asset)
        key = layout.handoff(run_id, asset)
        try:
            payload = self.storage.get_json(key)
        except MissingObject:
            raise dg.Failure(
                f"{asset} of run {run_id} handed on no value ({self.storage.uri(key)} does not "
                f"exist): materialize {asset} again",
                allow_retries=False,
            ) from None
        kind = context.dagster_type.typing_type
        if payload.get("type") != kind.__name__:
            raise dg.Failure(
                f"{asset} of run {run_id} handed on a {payload.get('type')}, not the "
                f"{kind.__name__} this step reads: materialize {asset} again",
                allow_retries=False,
            )
        value = kind.from_dict(payload["value"])
        if _one_partition(context) is not None or not _has_partitions(context):
            # (a check on a shard-partitioned asset reads it over every partition, in Dagster's
            # view: the input has no one partition to record metadata against)
            context.add_input_metadata(
                {"from_run": run_id, "how": how, "value": dg.MetadataValue.json(payload["value"])}
            )
        return value

    @staticmethod
    def _source_run(context: dg.InputContext, asset: str) -> tuple[str, str]:
        try:
            run_id = context.upstream_output.run_id
        except (AttributeError, DagsterInvariantViolationError):
            run_id = None
        if run_id and run_id != RUN_ID_PLACEHOLDER:
            return run_id, "written by this run"
        # the upstream step is not part of this run: Dagster made up its output's context
        partition = _one_partition(context)
        if partition is None:
            event = context.instance.get_latest_materialization_event(context.asset_key)
        else:  # a shard's step reads its own shard's value
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[partition]),
                limit=1,
            ).records
            event = records[0].event_log_entry if records else None
        named = asset if partition is None else f"{asset} (partition {partition})"
        if event is None:
            raise dg.Failure(
                f"{named} has never been materialized: materialize {named} first",
                allow_retries=False,
            )
        return event.run_id, f"the latest materialization of {named}"


def _has_partitions(context: dg.InputContext) -> bool:
    try:
        return context.has_asset_partitions
    except DagsterInvariantViolationError:
        return False


def _one_partition(context: dg.InputContext) -> str | None:
    """The upstream partition a step reads (a shard's step: its own shard), or None."""
    try:
        if not context.has_asset_partitions:
            return None
        keys = context.asset_partition_keys
    except (DagsterInvariantViolationError, dg.DagsterInvalidInvocationError):
        return None
    return keys[0] if len(keys) == 1 else None
