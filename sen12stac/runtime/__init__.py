"""The machinery a build runs on, apart from the recipe: Dask settings, the scene cache, the
garbage-collector pause, progress lines, GDAL environments, I/O accounting and the checks made
before any work starts."""
