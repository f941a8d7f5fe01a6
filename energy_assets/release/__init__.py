"""Releasing a model: the promotion sequence (gate, checksum, endpoint update, smoke test,
restore to a config known to serve) and rollback."""
