"""The Earth Engine source (issue 13): the paper's own data selection on earthengine-api.

graphs.py   the computation graphs (collections, filters, mosaics, ROI sampling)
export.py   pixels onto the scene grid: chunked computePixels, or batch export + task polling
auth.py     credentials and project, checked before any work
source.py   the ``models.Source`` the pipeline calls

Tests run it offline against an Earth Engine REST API on 127.0.0.1 (tests/eefake.py).
"""
from ...extras import require

require("earthengine")  # before any module of this package imports ee or google-*

from .source import EarthEngineScene, EarthEngineSource  # noqa: E402

__all__ = ["EarthEngineSource", "EarthEngineScene"]
