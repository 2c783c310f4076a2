import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile

from sen12stac.recipe.cog import RGB, encode_cog, validate_cog_bytes
from sen12stac.config import CogConfig
from sen12stac.errors import RasterFormatError
from sen12stac.models import Grid

GRID = Grid("EPSG:32633", (10.0, 0.0, 400_000.0, 0.0, -10.0, 5_300_000.0), 256, 256)


def _patch():
    y, x = np.mgrid[0:256, 0:256]
    return np.stack([(x % 255) + 1, (y % 255) + 1, ((x + y) % 255) + 1]).astype(np.uint8)


@pytest.mark.parametrize("compress", ["DEFLATE", "ZSTD", "LZW"])
def test_valid_georeferenced_lossless(compress):
    data = _patch()
    b = encode_cog(data, GRID, nodata=0, descriptions=("B04", "B03", "B02"), config=CogConfig(compress=compress), scales=(0.5, 1, 2), offsets=(1, 2, 3))
    ok, errors, warnings = validate_cog_bytes(b)
    assert ok, errors
    with MemoryFile(b) as m, m.open() as ds:
        assert ds.crs.to_epsg() == 32633
        assert tuple(ds.transform)[:6] == GRID.transform
        assert ds.nodata == 0 and ds.descriptions == ("B04", "B03", "B02")
        assert ds.block_shapes[0] == (256, 256) and ds.compression.name.upper() == compress
        assert ds.scales == (0.5, 1, 2) and ds.offsets == (1, 2, 3)
        np.testing.assert_array_equal(ds.read(), data)


def test_rgb_colour_interpretation():
    b = encode_cog(_patch(), GRID, nodata=0, colorinterp=RGB)
    assert validate_cog_bytes(b)[0]
    with MemoryFile(b) as m, m.open() as ds:
        assert [c.name for c in ds.colorinterp] == ["red", "green", "blue"]
        np.testing.assert_array_equal(ds.read(), _patch())
    with MemoryFile(encode_cog(_patch(), GRID, nodata=0)) as m, m.open() as ds:  # without it: GDAL's default
        assert [c.name for c in ds.colorinterp] != ["red", "green", "blue"]
    with pytest.raises(RasterFormatError, match="3 bands"):
        encode_cog(_patch(), GRID, nodata=0, colorinterp=("gray",))


def test_deterministic_bytes():
    assert encode_cog(_patch(), GRID, nodata=0) == encode_cog(_patch(), GRID, nodata=0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(RasterFormatError, match="grid is 256x256"):
        encode_cog(np.zeros((1, 100, 100), np.uint8), GRID, nodata=0)


def test_many_encodes_in_one_environment_give_the_same_bytes():
    """The build encodes a strip's patches inside one encoding_env(); the bytes must be those of
    a call on its own, and leaving it restores the outer environment's options."""
    from sen12stac.recipe.cog import encoding_env

    kwargs = dict(nodata=0, descriptions=("B04", "B03", "B02"), colorinterp=RGB, scales=(0.5, 1, 2), offsets=(1, 2, 3))
    alone = encode_cog(_patch(), GRID, **kwargs)
    with rasterio.Env(GDAL_CACHEMAX=64):  # the build's outer environment, without the encoding options
        assert encode_cog(_patch(), GRID, **kwargs) == alone
        with encoding_env():
            assert [encode_cog(_patch(), GRID, **kwargs) for _ in range(3)] == [alone] * 3
            assert rasterio.env.getenv()["GDAL_PAM_ENABLED"] == "NO"
        assert rasterio.env.getenv().get("GDAL_DISABLE_READDIR_ON_OPEN") is None  # the outer options are back
