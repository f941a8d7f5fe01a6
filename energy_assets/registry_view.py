"""The model registry as a table for people (the ``energy-assets models`` command)."""

from __future__ import annotations

import pandas as pd


def registry_frame(sagemaker) -> pd.DataFrame:
    rows = []
    for package in sagemaker.model_packages():
        meta = package.get("CustomerMetadataProperties", {})
        rows.append(
            {
                "version": meta.get("version", ""),
                "package": package.get("ModelPackageVersion"),
                "status": package["ModelApprovalStatus"],
                "serving": meta.get("serving", "") == "true",
                "test_mae": meta.get("mae", ""),
                "relative_mae": meta.get("relative_mae", ""),
                "registered": str(package.get("CreationTime", ""))[:19],
                "note": (package.get("ApprovalDescription") or "")[:80],
            }
        )
    return pd.DataFrame(rows)


def registry_table(sagemaker) -> str:
    frame = registry_frame(sagemaker)
    if frame.empty:
        return f"no models registered in group {sagemaker.package_group}"
    return frame.to_markdown(index=False)
