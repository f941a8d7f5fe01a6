import sys

from energy_assets.cli import main

sys.exit(main(["local-aws", *sys.argv[1:]]))
