"""The inference server of the SageMaker container contract.

SageMaker runs the image with the argument ``serve`` after extracting ``model.tar.gz`` into
``/opt/ml/model`` (``SM_MODEL_DIR`` overrides it here), then calls ``GET /ping`` until it answers
200 and sends each ``InvokeEndpoint`` body to ``POST /invocations`` on port 8080. The model is
loaded when the app is created, so a broken artifact stops the container at start (the endpoint
goes Failed with the reason in its logs) rather than failing every request later.

``/execution-parameters`` lets a batch transform job read the batching this server handles
(CSV lines, each a forecast request, up to ``handler.MAX_BATCH`` per call).

A body over ``handler.MAX_BODY_BYTES`` (SageMaker's 6 MB) is refused with 413 as soon as its
declared length or the bytes read so far pass the limit: it is never held in memory whole.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from energy_assets.serving.handler import MAX_BODY_BYTES, InvalidRequest, ModelFailure, Predictor

DEFAULT_MODEL_DIR = "/opt/ml/model"
PORT = 8080


def model_dir_from_env() -> Path:
    return Path(os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))


async def bounded_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request body, or None as soon as it is known to be longer than ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(model_dir: str | Path | None = None) -> Starlette:
    predictor = Predictor.from_model_dir(model_dir or model_dir_from_env())

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model_version": predictor.version})

    async def invocations(request: Request) -> Response:
        body = await bounded_body(request)
        if body is None:
            return JSONResponse(
                {"error": f"body over {MAX_BODY_BYTES} bytes, the limit of one invocation"},
                status_code=413,
            )
        content_type = request.headers.get("content-type", "application/json")
        try:
            # Forecasting is CPU work: off the event loop, so /ping stays responsive.
            payload, media_type = await run_in_threadpool(
                predictor.invoke, body, content_type, request.headers.get("accept")
            )
        except InvalidRequest as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        except ModelFailure as error:
            return JSONResponse({"error": str(error)}, status_code=500)
        return Response(payload, media_type=media_type)

    async def execution_parameters(request: Request) -> Response:
        return JSONResponse(
            {
                "MaxConcurrentTransforms": 1,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": MAX_BODY_BYTES // (1024 * 1024),
            }
        )

    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/execution-parameters", execution_parameters, methods=["GET"]),
        ]
    )
    app.state.predictor = predictor
    return app


def main() -> None:
    """``serve``: uvicorn on 0.0.0.0:8080 with one worker per CPU (SageMaker convention)."""
    import uvicorn

    workers = int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1))
    uvicorn.run(
        "energy_assets.serving.server:create_app",
        factory=True,
        host="0.0.0.0",
        port=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", PORT)),
        workers=workers,
        # Longer than SageMaker's 60 s invocation timeout, so its kept-alive connections to the
        # container are not closed under it between requests.
        timeout_keep_alive=75,
        log_level=os.environ.get("LOG_LEVEL", "info"),
    )


if __name__ == "__main__":
    main()
