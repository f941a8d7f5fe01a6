"""The local AWS the project starts itself (see README: what it can and cannot do)."""

from energy_assets.localaws.server import LocalAWS, run_forever

__all__ = ["LocalAWS", "run_forever"]
