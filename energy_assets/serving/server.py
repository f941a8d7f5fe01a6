"""The inference server of the SageMaker container contract: GET /ping, POST /invocations on
port 8080, the model extracted by SageMaker into /opt/ml/model (``SM_MODEL_DIR``)."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from energy_assets.serving.handler import InvalidRequest, ModelFailure, Predictor


def create_app(model_dir: str | None = None) -> Starlette:
    predictor = Predictor.from_model_dir(
        model_dir or os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
    )

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model_version": predictor.bundle.version})

    async def invocations(request: Request) -> Response:
        body = await request.body()
        try:
            payload, content_type = predictor.invoke(body, request.headers.get("content-type", ""))
        except InvalidRequest as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        except ModelFailure as error:
            return JSONResponse({"error": str(error)}, status_code=500)
        return Response(payload, media_type=content_type)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )


def main() -> None:
    import uvicorn

    uvicorn.run(
        create_app(), host="0.0.0.0", port=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", 8080))
    )


if __name__ == "__main__":
    main()
