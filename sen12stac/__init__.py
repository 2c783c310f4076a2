"""sen12stac: the SEN1-2 recipe published as Cloud-Optimized GeoTIFF patch pairs with a STAC catalog."""
__version__ = "0.1.0"
SOFTWARE = f"sen12stac {__version__}"
