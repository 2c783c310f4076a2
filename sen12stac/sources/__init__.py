"""Scene sources behind one interface (:class:`sen12stac.models.Source`)."""
from __future__ import annotations

from ..config import BuildConfig
from ..errors import ConfigError
from ..models import Source


def make_source(config: BuildConfig) -> Source:
    """The source named by the configuration (imports only what it needs)."""
    if config.source == "synthetic":
        from .synthetic import SyntheticSource

        return SyntheticSource(defect_rate=config.defect_rate)
    if config.source == "local":
        from .local import LocalSource

        assert config.source_path is not None  # checked by BuildConfig
        return LocalSource(config.source_path, pixel_size=config.pixel_size, recipe=config.recipe)
    if config.source == "stac":
        from .opendata import StacSource

        assert config.stac is not None  # checked by BuildConfig
        return StacSource(config.stac, recipe=config.recipe)
    if config.source == "earthengine":
        from .earthengine import EarthEngineSource

        return EarthEngineSource(config.earthengine, n_land=config.n_land, n_urban=config.n_urban,
                                 scene_size_m=config.scene_size_px * config.pixel_size)
    raise ConfigError(f"unknown source {config.source!r}", fix="use synthetic, local, earthengine or stac")
