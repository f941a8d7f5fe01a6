"""The Dagster retry policy of the assets that call AWS.

botocore already retries each request (``resources/retries.py``); this policy re-runs a whole
step when a request still failed after those attempts (a service down for longer than the
backoff, a dropped connection mid-upload), after 2 s, then 4 s, each ±50 %. Failures that a
retry cannot cure (a missing input object, a model that fails its smoke test, an artifact that
changed) raise ``dg.Failure(allow_retries=False)`` and fail at once.
"""

import dagster as dg

AWS_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=2.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
