"""The model registry as a table for people (the ``energy-assets models`` command).

Two columns are checked now rather than read from the registry: ``serving`` is the version the
endpoint answers with when invoked (one real invocation, for the meter the last deploy
smoke-tested), and ``artifact`` says whether each version's ``model.tar.gz`` is still the one
registered: a HEAD request compares the object's SHA-256 metadata and ETag with those recorded
at registration (``changed`` when either differs; a deploy or rollback downloads and hashes the
bytes themselves before it touches the endpoint).
"""

from __future__ import annotations

import pandas as pd

from energy_assets import layout


def artifact_state(storage, package: dict) -> str:
    """``verified``, ``changed``, ``missing`` or ``no checksum`` (registered before checksums)."""
    meta = package.get("CustomerMetadataProperties", {})
    recorded = meta.get("artifact_sha256")
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    uri = containers[0].get("ModelDataUrl", "") if containers else ""
    if not recorded:
        return "no checksum"
    try:
        head = storage.head(storage.key_of(uri))
    except ValueError:  # an artifact outside this bucket
        return "unknown (other bucket)"
    if head is None:
        return "missing"
    written = (head.get("Metadata") or {}).get("sha256")
    etag = head.get("ETag", "").strip('"')
    if written != recorded or (meta.get("artifact_etag") and etag != meta["artifact_etag"]):
        return "changed"
    return "verified"


def endpoint_answer(sagemaker, storage) -> dict:
    """The endpoint's answer to a real invocation for the last smoke-tested meter."""
    if storage is not None and getattr(sagemaker, "multi_model", False):
        return _shard_answers(sagemaker, storage)
    current = storage.get_json_or_none(layout.DEPLOYMENT_CURRENT) if storage else None
    return sagemaker.probe((current or {}).get("smoke_meter"))


def _shard_answers(sagemaker, storage) -> dict:
    """With meter shards: a real invocation per routed shard (its smoke meter, through its
    TargetModel); ``model_versions`` the versions that answered."""
    answers = []
    for shard in layout.shard_keys(sagemaker.shards):
        route = storage.get_json_or_none(layout.route(shard))
        if route:
            answers.append(sagemaker.probe(route.get("smoke_meter")))
    if not answers:
        return sagemaker.probe(None)
    versions = sorted({a["model_version"] for a in answers if a.get("model_version")})
    first = answers[0]
    return {
        **first,
        "answers": all(a["answers"] for a in answers),
        "model_version": ", ".join(versions) or None,
        "model_versions": versions,
    }


def registry_frame(sagemaker, storage=None, answer: dict | None = None) -> pd.DataFrame:
    """One row per registered version. Without ``storage`` the ``serving`` flag is the
    registry's own and the artifact is not checked."""
    rows = []
    for package in sagemaker.model_packages():
        meta = package.get("CustomerMetadataProperties", {})
        version = meta.get("version", "")
        serving = (
            version in answer.get("model_versions", [answer["model_version"]])
            if answer
            else meta.get("serving", "") == "true"
        )
        rows.append(
            {
                "version": version,
                "package": package.get("ModelPackageVersion"),
                "status": package["ModelApprovalStatus"],
                "serving": serving,
                **({"artifact": artifact_state(storage, package)} if storage else {}),
                "test_mae": meta.get("mae", ""),
                "relative_mae": meta.get("relative_mae", ""),
                "registered": str(package.get("CreationTime", ""))[:19],
                "note": (package.get("ApprovalDescription") or "")[:80],
            }
        )
    return pd.DataFrame(rows)


def endpoint_line(answer: dict) -> str:
    name, status = answer["endpoint"], answer["status"]
    if answer["answers"] and answer.get("model_version"):
        return f"endpoint {name}: {status}, answers with version {answer['model_version']}"
    if answer["answers"]:
        return f"endpoint {name}: {status}, answers (version not known: {answer['detail']})"
    return (
        f"endpoint {name}: {status} but {answer['detail']}"
        if status == "InService"
        else (f"endpoint {name}: {answer['detail']}")
    )


def registry_table(sagemaker, storage=None) -> str:
    answer = endpoint_answer(sagemaker, storage)
    frame = registry_frame(sagemaker, storage, answer)
    if frame.empty:
        return f"{endpoint_line(answer)}\nno models registered in group {sagemaker.package_group}"
    return f"{endpoint_line(answer)}\n\n{frame.to_markdown(index=False)}"
