"""The ``stac`` source: SEN1-2 scenes from public STAC APIs (Earth Search, Planetary Computer).

presets.py   per-sensor settings and the providers' documented defaults
search.py    the recipe's filters as STAC searches (pystac-client)
signing.py   href signers (Planetary Computer SAS tokens)
reading.py   windowed reads of remote COGs, last-on-top mosaics
source.py    the Source and SceneRaster
"""
from ...extras import require

require("opendata")  # before any module of this package imports pystac-client or planetary-computer

from .source import StacScene, StacSource  # noqa: E402

__all__ = ["StacScene", "StacSource"]
