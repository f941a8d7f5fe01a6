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
        event = context.instance.get_latest_materialization_event(context.asset_key)
        if event is None:
            raise dg.Failure(
                f"{asset} has never been materialized: materialize {asset} first",
                allow_retries=False,
            )
        return event.run_id, f"the latest materialization of {asset}"
