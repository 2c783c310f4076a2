"""The dataset's catalog texts as data; installed as the package ``sen12stac.catalog_texts``
(pyproject.toml maps this folder onto it) and read with importlib.resources."""
