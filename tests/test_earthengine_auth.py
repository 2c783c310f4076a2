"""Earth Engine credentials, project access and request limits, offline: the real
earthengine-api and google-auth code over HTTP against the test API on 127.0.0.1
(tests/eefake.py), the token exchange included."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eefake import EarthEngineApi


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """A user with no `earthengine authenticate` token and no application default credentials."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "home" / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # google-auth: do not probe the metadata server
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)


@pytest.fixture
def api(monkeypatch):
    """The Earth Engine API on 127.0.0.1, and this process's environment set for it."""
    with EarthEngineApi() as server:
        for k, v in server.offline_env().items():
            monkeypatch.setenv(k, v)
        yield server


@pytest.fixture
def key_file(tmp_path, api):
    """A service-account JSON key as Google issues it (a fresh RSA key; it signs, offline), its
    token endpoint the test API's."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "sa-project", "private_key_id": "0123", "private_key": pem,
        "client_email": "builder@sa-project.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": f"{api.url}/token",
    }))
    return path


def _one_line_with_fix(text: str) -> None:
    assert "\n" not in text.strip() and text.count("Fix:") == 1


def test_no_credentials_is_one_clear_line(no_credentials):
    from sen12stac.errors import ConfigError
    from sen12stac.sources.earthengine.auth import connect

    with pytest.raises(ConfigError) as err:
        connect("my-project")
    msg = str(err.value)
    _one_line_with_fix(msg)
    assert "no Earth Engine credentials" in msg and "gcloud auth application-default login" in msg and "--ee-key-file" in msg


def test_cli_build_without_credentials_exits_2_before_any_work(no_credentials, tmp_path):
    from sen12stac.cli import app

    r = CliRunner().invoke(app, ["build", "--source", "earthengine", "--ee-project", "p", "--out", str(tmp_path / "out"), "--workers", "0"],
                           env={"SEN12STAC_WORK_DIR": str(tmp_path / "work")})
    assert r.exit_code == 2, r.output
    assert "no Earth Engine credentials" in r.output and "Fix:" in r.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_a_service_account_key_signs_in_and_names_the_project(key_file, api):
    from sen12stac.sources.earthengine.auth import connect

    assert connect(None, key_file, url=api.url) == "sa-project"
    paths = [p for _, p, _ in api.log]
    assert paths[0] == "token"  # the key was exchanged for a token (google-auth's JWT grant)
    assert "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in api.log[0][2]
    assert paths[-1] == "v1/projects/sa-project/algorithms" and api.authorizations[-1] == "Bearer fake-token"
    # earthengine-api 1.5 and later also fetch the data catalog's deprecated assets at initialization
    # (urllib, through the proxy the environment names): refused here, nothing else asked for
    assert set(api.tunnels) <= {"storage.googleapis.com:443"}


def test_a_project_without_earth_engine_access_says_how_to_register(key_file, api):
    from sen12stac.errors import ConfigError
    from sen12stac.sources.earthengine.auth import connect

    api.deny = ("Project 'projects/no-ee' is not registered to use Earth Engine. "
                "Visit https://code.earthengine.google.com/register?project=no-ee to register your project.")
    with pytest.raises(ConfigError) as err:
        connect("no-ee", key_file, url=api.url)
    msg = str(err.value)
    _one_line_with_fix(msg)
    assert "Earth Engine refused project 'no-ee'" in msg and "is not registered" in msg and "roles/earthengine.viewer" in msg


def test_a_missing_or_wrong_key_file_is_named(tmp_path):
    from sen12stac.errors import ConfigError
    from sen12stac.sources.earthengine.auth import connect

    with pytest.raises(ConfigError, match="key file .*nope.json does not exist"):
        connect("p", tmp_path / "nope.json")
    bad = tmp_path / "user.json"
    bad.write_text(json.dumps({"type": "authorized_user", "client_id": "x"}))
    with pytest.raises(ConfigError, match="is not a service-account JSON key"):
        connect("p", bad)


def test_batch_export_settings_are_checked_up_front():
    from sen12stac.config import make_config
    from sen12stac.errors import ConfigError

    with pytest.raises(ConfigError, match="needs a bucket"):
        make_config(source="earthengine", earthengine={"project": "p", "export": "gcs"})
    with pytest.raises(ConfigError, match="max_request_bytes"):
        make_config(source="earthengine", earthengine={"project": "p", "max_request_bytes": 64 * 1024 * 1024})


@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 3000), h=st.integers(1, 3000), bands=st.sampled_from([1, 3]), itemsize=st.sampled_from([2, 4]),
       max_bytes=st.sampled_from([4096, 65536, 48 * 1024 * 1024]), max_side=st.sampled_from([64, 128, 32768]))
def test_chunks_cover_the_grid_once_under_the_request_limits(w, h, bands, itemsize, max_bytes, max_side):
    from sen12stac.models import Grid
    from sen12stac.sources.earthengine.export import Limits, plan_chunks

    grid = Grid("EPSG:32633", (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0), w, h)
    chunks = plan_chunks(grid, itemsize, bands, Limits(max_bytes, max_side))
    assert sum(c.width * c.height for c in chunks) == w * h
    for c in chunks:
        assert c.width <= max_side and c.height <= max_side and c.width * c.height * itemsize * bands <= max_bytes
        assert 0 <= c.col_off and c.col_off + c.width <= w and 0 <= c.row_off and c.row_off + c.height <= h
    # no overlap: chunks of one row band tile it left to right
    rows = {}
    for c in chunks:
        rows.setdefault(c.row_off, []).append(c)
    assert sum(max(c.height for c in band) for band in rows.values()) == h
    for band in rows.values():
        assert sorted((c.col_off, c.col_off + c.width) for c in band) == [(a, b) for a, b in zip([0] + [c.col_off + c.width for c in sorted(band, key=lambda c: c.col_off)][:-1], [c.col_off + c.width for c in sorted(band, key=lambda c: c.col_off)])]


def test_a_paper_scene_needs_few_requests_and_a_huge_one_respects_the_side_limit():
    from sen12stac.models import Grid
    from sen12stac.sources.earthengine.export import plan_chunks

    scene = Grid("EPSG:32633", (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0), 4480, 4480)
    s2 = plan_chunks(scene, 2, 3)  # 120 MB of uint16 B4/B3/B2 -> three strips of whole rows under 48 MB
    assert [(c.width, c.height) for c in s2] == [(4480, 1872), (4480, 1872), (4480, 736)]
    wide = Grid("EPSG:32633", (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0), 40000, 10)
    assert max(c.width for c in plan_chunks(wide, 4, 1)) == 32768
