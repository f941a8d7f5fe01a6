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


# -- meter shards (``Settings.shards``): the training chain runs once per shard --------------
# Shard ``None`` is the one-shard deployment: today's keys, unchanged (an existing bucket keeps
# reading as it did). A shard's objects sit in a ``shard=NN/`` folder beside the file name.


def shard_key(shard: int | str) -> str:
    """A shard's partition key, as the raw layout names it: ``"03"``."""
    return f"{int(shard):02d}"


def shard_keys(shards: int) -> list[str]:
    return [shard_key(i) for i in range(max(1, shards))]


def scoped(key: str, shard: str | None) -> str:
    """``key`` of ``shard``: ``clean/usage.parquet`` -> ``clean/shard=03/usage.parquet``."""
    if shard is None:
        return key
    folder, _, name = key.rpartition("/")
    return f"{folder}/shard={shard}/{name}" if folder else f"shard={shard}/{name}"


def clean(shard: str | None = None) -> str:
    return scoped(CLEAN, shard)


def clean_stats(shard: str | None = None) -> str:
    return scoped(CLEAN_STATS, shard)


def clean_manifest(shard: str | None = None) -> str:
    return scoped(CLEAN_MANIFEST, shard)


def train(shard: str | None = None) -> str:
    return scoped(TRAIN, shard)


def test(shard: str | None = None) -> str:
    return scoped(TEST, shard)


def split_manifest(shard: str | None = None) -> str:
    return scoped(SPLIT_MANIFEST, shard)


def features(shard: str | None = None) -> str:
    return scoped(FEATURES, shard)


def explored_shard(shards: int) -> str | None:
    """The shard whose training set the exploration notebook reads: shard 00 (None: the
    one-shard deployment's unscoped keys)."""
    return shard_key(0) if shards > 1 else None


def deepar_prefix(shard: str | None = None) -> str:
    return DEEPAR_PREFIX if shard is None else f"{DEEPAR_PREFIX}shard={shard}/"


# The multi-model endpoint (shards > 1): its ModelDataUrl prefix, under which each shard's
# promoted artifact is copied at a key naming the shard and the version (a loaded model is not
# read again: a new version gets a new key), and the route of each shard: which TargetModel
# answers its meters. One small object per shard, so shard deploys never race on one file.
SERVING_PREFIX = "models/serving/"
ROUTES_PREFIX = "deployments/routes/"


def target_model(shard: str, version: str) -> str:
    """The TargetModel of ``version`` of ``shard``: its key under ``SERVING_PREFIX``."""
    return f"shard={shard}/{version}.tar.gz"


def route(shard: str) -> str:
    return f"{ROUTES_PREFIX}shard={shard}.json"


def shard_deployment(shard: str, version: str) -> str:
    return f"{DEPLOYMENTS_PREFIX}shards/{shard}/{version}.json"


def shard_smoke_record(shard: str, version: str) -> str:
    return f"{DEPLOYMENTS_PREFIX}shards/{shard}/smoke/{version}.json"


def monitoring_realised(shard: str | None = None) -> str:
    return scoped(MONITORING_REALISED, shard)


def monitoring_latest(shard: str | None = None) -> str:
    return scoped(MONITORING_LATEST, shard)


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


def deepar_channel(name: str, shard: str | None = None) -> str:
    """DeepAR's JSON Lines channel ``train`` or ``test`` (one object per meter)."""
    return f"{deepar_prefix(shard)}{name}/{name}.json"


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
