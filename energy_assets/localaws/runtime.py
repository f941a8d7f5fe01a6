"""A SageMaker-runtime-compatible service: every runtime operation really serves the endpoint's
model.

It answers botocore's ``sagemaker-runtime`` operations (``runtime_protocol.py``) on both ports
of the local AWS: its own (``create_runtime_app``, for ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``) and
moto's (``gateway.py``, so that ``AWS_ENDPOINT_URL`` alone is enough). Endpoints are resolved
through the control plane of the local AWS (``resolver.py``) and answered by the container's
``Predictor``:

* InvokeEndpoint: the model's answer, ``Content-Type`` and ``x-Amzn-Invoked-Production-Variant``;
* InvokeEndpointWithResponseStream: the same answer as one ``PayloadPart`` event of an AWS event
  stream (the container answers in one piece);
* InvokeEndpointAsync, on an endpoint whose config has ``AsyncInferenceConfig``: 202 at once;
  the input is read from ``InputLocation`` in S3 and the answer written to
  ``{S3OutputPath}/{id}.out`` (failures to ``{S3FailurePath}/{id}-error.out``) in the background.

Errors take the shapes botocore's service model defines, so callers see the same ``ClientError``
codes as on AWS:

* no such endpoint / not InService / unknown target variant / an async call to a real-time
  endpoint -> 400 ``ValidationError`` ("Endpoint X of account 123456789012 not found.");
* the container rejects the payload (``InvalidRequest``, its 400) -> 424 ``ModelError`` with
  ``OriginalStatusCode`` 400 and ``OriginalMessage`` = the container's body, as SageMaker relays
  a container's 4xx; ``ModelFailure`` (its 500) -> 424 ``ModelError``, OriginalStatusCode 500;
* the model cannot be loaded -> 424 ``ModelError``, OriginalStatusCode 500 (AWS would have failed
  the endpoint instead; a 424 is not retried by botocore, a 5xx would be, four times);
* multi-model endpoints (``multi_model.py``): ``TargetModel`` names the artifact under the
  model's prefix, loaded on first use and cached; a target with no object -> 400
  ``ValidationError`` "Failed to download model data(...)", no ``TargetModel`` -> 400
  ``ValidationError`` "... is missing a target model header", ``TargetModel`` on an endpoint that
  is not multi-model -> 400 ``ValidationError`` "... is not a multi-model endpoint and does not
  support target model header.", a target that does not load -> 424 ``ModelError``;
* anything else -> 500 ``InternalFailure``.

The region is the one the caller signed the request for (moto keeps state per region).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from energy_assets.localaws import runtime_protocol as wire
from energy_assets.localaws.multi_model import TargetBroken, TargetNotFound
from energy_assets.localaws.resolver import (
    ACCOUNT,
    Deployment,
    DeploymentBroken,
    EndpointNotFound,
    EndpointResolver,
    UnknownVariant,
    Variant,
)
from energy_assets.localaws.runtime_protocol import Answer
from energy_assets.localaws.telemetry import Telemetry
from energy_assets.serving.handler import InvalidRequest, ModelFailure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Served:
    variant: Variant
    deployment: Deployment
    account: str


class Runtime:
    """The runtime operations over one resolver; ``handle`` answers any HTTP request."""

    def __init__(self, aws_url: str, region: str, telemetry_seconds: float = 10.0):
        self.region = region
        self.resolver = EndpointResolver(aws_url, region)
        self.telemetry = Telemetry(self.resolver.client, flush_seconds=telemetry_seconds)
        self._async = ThreadPoolExecutor(2, thread_name_prefix="runtime-async")

    def start(self) -> Runtime:
        self.telemetry.start()
        return self

    def stop(self) -> None:
        """Finish queued async invocations, then send the last metrics and captures."""
        self._async.shutdown(wait=True)
        self.telemetry.stop()

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """``headers``: a case-insensitive mapping of the request's headers."""
        started = time.perf_counter()
        operation = wire.runtime_operation(method, path)
        if operation is None:
            return wire.error(
                404,
                "UnknownOperationException",
                f"{method} {path} is not an operation of the SageMaker runtime API",
            )
        name, endpoint = operation
        scope = wire.credential_scope(headers.get("authorization"))
        region = scope[0] if scope else self.region
        try:
            if name == "InvokeEndpoint":
                return self._invoke(endpoint, region, headers, body, started)
            if name == "InvokeEndpointWithResponseStream":
                return self._invoke(endpoint, region, headers, body, started, stream=True)
            if name == "InvokeEndpointAsync":
                return self._invoke_async(endpoint, region, headers)
        except Exception as error:  # the control plane is down, a bug: say so, as AWS would
            log.exception("%s %s failed", name, endpoint)
            return wire.error(500, "InternalFailure", f"local SageMaker runtime failed: {error!r}")
        return wire.error(
            501,
            "UnknownOperationException",
            f"{name} is not served by the local SageMaker runtime (InvokeEndpoint, "
            "InvokeEndpointWithResponseStream and InvokeEndpointAsync are)",
        )

    def _resolve(self, name: str, region: str, target: str | None) -> _Served | Answer:
        try:
            variant, deployment = self.resolver.resolve(name, region, target)
        except EndpointNotFound:
            return wire.error(
                400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found."
            )
        except UnknownVariant as error:
            return wire.error(400, "ValidationError", str(error))
        except DeploymentBroken as error:
            log.warning("endpoint %s cannot serve: %s", name, error)
            return wire.model_error(name, region, ACCOUNT, 500, json.dumps({"error": str(error)}))
        return _Served(variant, deployment, deployment.arn.split(":")[4] or ACCOUNT)

    def _predict(
        self,
        served: _Served,
        name: str,
        region: str,
        request: tuple[bytes, str],
        accept,
        started,
        predictor=None,
    ) -> tuple[int, bytes, str]:
        """The container's status, body and content type for one request, with the endpoint's
        metrics and data capture as on AWS. ``predictor``: a multi-model endpoint's target."""
        model_started = time.perf_counter()
        try:
            predictor = predictor or served.variant.predictor
            payload, content_type = predictor.invoke(*request, accept)
            status = 200
        except (InvalidRequest, ModelFailure) as error:
            status = 400 if isinstance(error, InvalidRequest) else 500
            if status == 500:
                log.warning("endpoint %s: %s", name, error)
            payload, content_type = json.dumps({"error": str(error)}).encode(), "application/json"
        model_seconds = time.perf_counter() - model_started
        self.telemetry.record(
            region,
            name,
            served.variant.name,
            status,
            model_seconds,
            time.perf_counter() - started,
            served.variant.instances,
        )
        if status == 200:
            self.telemetry.capture(
                region,
                name,
                served.variant.name,
                served.deployment.data_capture,
                request,
                (payload, content_type),
            )
        return status, payload, content_type

    def _target(self, served: _Served, name: str, region: str, target: str | None):
        """The predictor a multi-model endpoint's ``TargetModel`` names (None for a single
        model), or the error SageMaker answers."""
        models = served.variant.models
        if models is None:
            if target:
                return wire.error(
                    400,
                    "ValidationError",
                    f"Endpoint {name} is not a multi-model endpoint and does not support "
                    "target model header.",
                )
            return None
        if not target:
            return wire.error(
                400,
                "ValidationError",
                f"Request {uuid.uuid4()} is missing a target model header: endpoint {name} is "
                "a multi-model endpoint; name the model with TargetModel.",
            )
        try:
            return models.get(target)
        except TargetNotFound as error:
            return wire.error(400, "ValidationError", str(error))
        except TargetBroken as error:
            log.warning("endpoint %s: %s", name, error)
            return wire.model_error(
                name, region, served.account, 500, json.dumps({"error": str(error)})
            )

    def _invoke(self, name, region, headers, body: bytes, started, stream=False) -> Answer:
        served = self._resolve(name, region, headers.get("x-amzn-sagemaker-target-variant"))
        if isinstance(served, Answer):
            return served
        predictor = self._target(served, name, region, headers.get("x-amzn-sagemaker-target-model"))
        if isinstance(predictor, Answer):
            return predictor
        request = (body, headers.get("content-type") or "application/json")
        accept = headers.get("x-amzn-sagemaker-accept" if stream else "accept")
        status, payload, content_type = self._predict(
            served, name, region, request, accept, started, predictor
        )
        if status != 200:
            return wire.model_error(name, region, served.account, status, payload.decode())
        answered = {
            "x-Amzn-Invoked-Production-Variant": served.variant.name,
            "x-amzn-RequestId": str(uuid.uuid4()),
        }
        if stream:
            return Answer(
                200,
                wire.payload_part(payload),
                {
                    "Content-Type": "application/vnd.amazon.eventstream",
                    "X-Amzn-SageMaker-Content-Type": content_type,
                    **answered,
                },
            )
        return Answer(200, payload, {"Content-Type": content_type, **answered})

    def _invoke_async(self, name: str, region: str, headers) -> Answer:
        served = self._resolve(name, region, None)
        if isinstance(served, Answer):
            return served
        if served.variant.models is not None:
            return wire.error(
                400,
                "ValidationError",
                f"Endpoint {name} is a multi-model endpoint: InvokeEndpointAsync names no "
                "target model.",
            )
        config = served.deployment.async_inference
        if not config:
            return wire.error(
                400,
                "ValidationError",
                f"Endpoint {name} of account {ACCOUNT} is not an asynchronous inference "
                "endpoint: its endpoint config has no AsyncInferenceConfig.",
            )
        source = headers.get("x-amzn-sagemaker-inputlocation")
        if not (source or "").startswith("s3://"):
            return wire.error(400, "ValidationError", "InputLocation must be an s3:// URI.")
        inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
        output = config.get("OutputConfig", {})
        extension = (headers.get("x-amzn-sagemaker-s3outputpathextension") or "").strip("/")
        base = "/".join(p for p in (output["S3OutputPath"].rstrip("/"), extension) if p)
        failures = (output.get("S3FailurePath") or base).rstrip("/")
        target = (f"{base}/{inference_id}.out", f"{failures}/{inference_id}-error.out")
        request = (source, headers.get("x-amzn-sagemaker-content-type") or "application/json")
        accept = headers.get("x-amzn-sagemaker-accept")
        self._async.submit(self._run_async, served, name, region, request, accept, target)
        return Answer(
            202,
            json.dumps({"InferenceId": inference_id}).encode(),
            {
                "Content-Type": "application/json",
                "X-Amzn-SageMaker-OutputLocation": target[0],
                "X-Amzn-SageMaker-FailureLocation": target[1],
                "x-amzn-RequestId": str(uuid.uuid4()),
            },
        )

    def _run_async(self, served: _Served, name, region, request, accept, target) -> None:
        s3 = self.resolver.client("s3", region)
        source, content_type = request
        try:
            bucket, key = _s3_location(source)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            status, data, _ = self._predict(
                served, name, region, (body, content_type), accept, time.perf_counter()
            )
            where = target[0] if status == 200 else target[1]
        except Exception as error:  # unreadable input: reported where the caller looks
            log.warning("async invocation of %s: %s", name, error)
            where, data = target[1], json.dumps({"error": f"{source}: {error}"}).encode()
        bucket, key = _s3_location(where)
        s3.put_object(Bucket=bucket, Key=key, Body=data)


def _s3_location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def create_runtime_app(runtime: Runtime) -> Starlette:
    """The runtime on a port of its own (``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``)."""

    async def operation(request: Request) -> Response:
        body = await request.body()
        answer = await run_in_threadpool(
            runtime.handle, request.method, request.url.path, request.headers, body
        )
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/{path:path}", operation, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )
