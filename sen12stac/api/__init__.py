"""The STAC API: a release in PostgreSQL + PostGIS + pgstac, served by stac-fastapi-pgstac.

    database.py    a private PostgreSQL cluster in a cache folder (Unix socket only); connection checks; pgstac migrate + settings
    queryables.py  the fields users filter on, registered in pgstac with types and indexes
    load.py        a release (folder, file://, s3://) -> pgstac, one transaction per collection
    serve.py       stac-fastapi-pgstac's own app (its settings and hooks), read-only, under uvicorn on 127.0.0.1 by default
    up.py          `api up`: private cluster + load + serve in one call

Needs the ``api`` extra (``pip install 'sen12stac[api]'``): pypgstac and stac-fastapi-pgstac.
"""
from ..extras import require

require("api")  # before any module of this package imports pypgstac, stac-fastapi or psycopg
