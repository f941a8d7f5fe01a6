"""``python -m energy_assets.localaws``: the local AWS in the foreground (as ``energy-assets
local-aws``), printing the environment that points AWS clients at it."""

from __future__ import annotations

import argparse
import os
import sys

from energy_assets.localaws.server import run_forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m energy_assets.localaws", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", 4566)))
    parser.add_argument(
        "--runtime-port", type=int, default=int(os.environ.get("LOCAL_AWS_RUNTIME_PORT", 4567))
    )
    parser.add_argument("--region", default=None, help="default: AWS_DEFAULT_REGION or us-east-1")
    args = parser.parse_args(argv)
    return run_forever(args.host, args.port, args.runtime_port, args.region)


if __name__ == "__main__":
    sys.exit(main())
