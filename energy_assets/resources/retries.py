"""How every AWS client retries: botocore's retry modes, configured here, never hand loops.

``standard`` retries throttling (``ProvisionedThroughputExceededException``,
``ThrottlingException``, S3 ``SlowDown``), 5xx answers and dropped connections with exponential
backoff and jitter, up to ``max_attempts`` calls in all (botocore's ``total_max_attempts``; its
``max_attempts`` key counts retries only, as does dagster-aws's ``S3Resource.max_attempts``), and
draws on a retry quota so a failing service is not hammered. ``adaptive`` adds client-side rate
limiting after throttling: the DynamoDB resource uses it, where throttling is the expected
failure of a busy table.
"""

from __future__ import annotations

from typing import Literal

from botocore.config import Config

RetryMode = Literal["standard", "adaptive", "legacy"]


def client_config(mode: RetryMode, max_attempts: int, **options) -> Config:
    """A botocore ``Config`` with the retry mode and the total number of attempts."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts counts the first call too: at least 1, not {max_attempts}")
    return Config(retries={"mode": mode, "total_max_attempts": max_attempts}, **options)
