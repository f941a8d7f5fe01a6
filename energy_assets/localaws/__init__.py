"""The local AWS the project starts itself (see README: what it can and cannot do)."""

from energy_assets.localaws.server import LocalAWS

__all__ = ["LocalAWS"]
