"""``python -m sen12stac.cli``: the same program as ``sen12stac``."""
from . import main

main()
