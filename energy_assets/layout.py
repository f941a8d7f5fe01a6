"""Where each asset keeps its files in the bucket.

Raw usage is one parquet object per month and meter shard (``energy_assets.raw_store``), under
one prefix so that reading all history is one listing of a few dozen objects per shard; model
and evaluation files are versioned. What an asset hands to the assets downstream (the model's
version, URI and checksum; the checksums of a dataset's objects) is kept per run under
``runs/`` by the IO manager (``resources/handoff.py``): no pointer in the bucket decides what a
run reads.
"""

import hashlib

RAW_PREFIX = "raw/usage/"
RAW_MONTHS = "raw/usage/month="
# day CSVs: data collected straight into S3 (and what an export wrote before the month layout)
RAW_DAYS = "raw/usage/date="
RAW_UNDATED = "raw/usage/undated/usage.parquet"
RAW_UNDATED_CSV = "raw/usage/undated/usage.csv"  # written before the month layout
# The layout the export state was written for: an incremental export merges only into objects
# of this layout and shard count (another one, or none, takes a full export first).
RAW_LAYOUT = "month-shard-parquet/1"
CLEAN = "clean/usage.parquet"
CLEAN_STATS = "clean/stats.json"
FEATURES = "exploration/features.csv"  # an exploration table: no model reads it
TRAIN = "datasets/train/train.csv"
TEST = "datasets/test/test.csv"
DEEPAR_PREFIX = "datasets/deepar/"
DEPLOYMENTS_PREFIX = "deployments/"
DEPLOYMENT_CURRENT = "deployments/current.json"
MONITORING_REALISED = "monitoring/realised.parquet"
MONITORING_LATEST = "monitoring/latest.json"
DATA_CAPTURE_PREFIX = "datacapture/"


def handoff(run_id: str, asset: str) -> str:
    """The value ``asset`` handed on in run ``run_id``."""
    return f"runs/{run_id}/{asset}.json"


def raw_day(day: str) -> str:
    """A day's CSV dropped straight into S3 (read for days the month objects do not hold)."""
    return f"{RAW_DAYS}{day}/usage.csv"


def raw_month_prefix(month: str) -> str:
    return f"{RAW_MONTHS}{month}/"


def raw_month(month: str, shard: int) -> str:
    """The raw usage of month ``YYYY-MM`` of the meters of ``shard``."""
    return f"{raw_month_prefix(month)}shard={shard:02d}/usage.parquet"


def shard_of(meter_id: str, shards: int) -> int:
    """The shard a meter's rows live in: a hash of its id that every process, machine and
    Python version agrees on (Python's ``hash()`` of a string changes from process to process),
    so a shard's readers find the objects its writer wrote."""
    digest = hashlib.blake2b(str(meter_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def quarantine(run_id: str) -> str:
    return f"quarantine/usage/run={run_id}/rows.csv"


def model_dir(version: str) -> str:
    return f"models/{version}/"


def evaluation_dir(version: str) -> str:
    return f"evaluation/{version}/"


def report(version: str) -> str:
    """The evaluation report of a model version (also its registered quality statistics)."""
    return f"{evaluation_dir(version)}report.json"


def deployment(version: str) -> str:
    return f"deployments/{version}.json"


def deploy_decision(version: str) -> str:
    """Why a version was or was not deployed (the champion/challenger gate's record)."""
    return f"deployments/decisions/{version}.json"


def registration(version: str) -> str:
    return f"registry/{version}.json"


def monitoring_reference(version: str) -> str:
    return f"monitoring/reference/{version}.json"


def deepar_channel(name: str) -> str:
    """DeepAR's JSON Lines channel ``train`` or ``test`` (one object per meter)."""
    return f"{DEEPAR_PREFIX}{name}/{name}.json"


def smoke_record(config_name: str) -> str:
    """The last smoke test of an endpoint config: whether it served (restore only to those)."""
    return f"{DEPLOYMENTS_PREFIX}smoke/{config_name}.json"


CLEAN_MANIFEST = "clean/manifest.json"
SPLIT_MANIFEST = "datasets/manifest.json"

# Which asset writes the objects under each prefix, longest prefix first: a missing object is
# reported with the asset to materialize.
PRODUCERS = (
    (RAW_PREFIX, "raw_usage_export"),
    ("clean/", "cleaned_usage"),
    ("quarantine/", "cleaned_usage"),
    (DEEPAR_PREFIX, "train_test_split"),
    ("datasets/", "train_test_split"),
    (FEATURES, "exploration_features"),
    ("exploration/", "exploration_report"),
    ("models/", "trained_forecaster"),
    ("evaluation/", "evaluation_report"),
    ("registry/", "registered_model"),
    (DEPLOYMENTS_PREFIX, "forecast_endpoint"),
    ("monitoring/", "forecast_monitoring"),
)


def producer(key: str) -> str | None:
    """The asset that writes ``key`` (None for objects no asset writes)."""
    return next((asset for prefix, asset in PRODUCERS if key.startswith(prefix)), None)
