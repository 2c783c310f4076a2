"""GDAL request counting from its debug messages (sen12stac/runtime/iostats.py): the message texts are
GDAL 3.10's (port/cpl_vsil_curl.cpp); tests/test_stac_source.py checks real builds against the
requests the S3 server logged."""
from __future__ import annotations

import logging

from sen12stac.runtime import iostats

URL = "http://127.0.0.1:9/bucket/a.tif"


def test_ranged_gets_heads_and_the_size_a_get_learns():
    c = iostats.GdalRequests()
    c.feed(f"VSICURL: GetFileSize({URL})=100000  response_code=200")  # HEAD on open
    c.feed(f"VSICURL: Downloading 0-65535 ({URL})...")
    c.feed("VSICURL: Got response_code=206")
    c.feed(f"VSICURL: Downloading 65536-99999 ({URL})...")
    assert (c.gets, c.heads, c.bytes) == (2, 1, 100000)
    other = "http://127.0.0.1:9/bucket/b.tif"
    c.feed(f"VSICURL: Downloading 0-65535 ({other})...")  # size not known: asks past the end
    c.feed("VSICURL: Got response_code=206")
    c.feed(f"VSICURL: GetFileSize({other})=40000  response_code=206")  # learnt from Content-Range
    assert (c.gets, c.heads, c.bytes) == (3, 1, 140000)
    c.feed(f"VSICURL: Downloading 0-99, ..., 500-599 (600 bytes, {URL})...")
    assert (c.gets, c.bytes) == (4, 140600)


def test_object_store_probe_is_a_get_and_a_refused_head_counts_once():
    c = iostats.GdalRequests()
    c.feed("VSICURL: Got response_code=206")  # another file's GET just before
    c.feed("S3: GetFileSize(http://127.0.0.1:9/bucket/B04.jp2)=84507  response_code=206")
    assert (c.gets, c.heads, c.bytes) == (1, 0, 1024 * 16)  # GDAL's default 1024 bytes at open, rounded to 16 KiB
    c.feed("VSICURL: HEAD not allowed. Retrying with GET")
    c.feed(f"VSICURL: GetFileSize({URL})=5  response_code=200")
    assert (c.gets, c.heads) == (2, 1)
    c.feed("GTiff: something else")
    assert (c.gets, c.heads) == (2, 1)


def test_measure_restores_the_loggers_and_drops_only_what_it_enabled(caplog):
    loggers = [logging.getLogger(n) for n in iostats.GDAL_LOGGERS]
    levels = [lg.level for lg in loggers]
    with iostats.measure() as cost:
        logging.getLogger("rasterio._env").debug("%s in %s", "CPLE_None", f"VSICURL: Downloading 0-9 ({URL})...")
    assert cost.range_reads == 1 and cost.bytes_read == 10
    assert [lg.level for lg in loggers] == levels and all(iostats._FILTER not in lg.filters for lg in loggers)
    with caplog.at_level(logging.DEBUG, logger="rasterio._env"):  # the user asked for GDAL's debug output: it stays
        with iostats.measure() as cost:
            logging.getLogger("rasterio._env").debug("%s in %s", "CPLE_None", f"VSICURL: Downloading 0-9 ({URL})...")
    assert cost.range_reads == 1 and "Downloading 0-9" in caplog.text
