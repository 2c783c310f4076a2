"""Shared fixtures. Tests reach nothing but loopback: sockets to other hosts are refused."""
from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# torchgeo's tests run in the torchgeo environment (.venv/tools-torchgeo), started by
# tests/test_torchgeo.py; where torchgeo is not installed (dev) their file is not collected.
collect_ignore = [] if importlib.util.find_spec("torchgeo") is not None else ["test_torchgeo_env.py"]

_real_connect = socket.socket.connect


def _loopback_only(self, address):  # like pystac's network block, but loopback stays open
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (host in ("localhost", "::1") or host.startswith("127.") or host.startswith("/")):
        raise OSError(f"test tried to reach {address!r}: tests may only use loopback")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture
def small_config():
    from sen12stac.config import make_config

    return make_config(seasons=("spring",), scenes_per_season=1, workers=0, scene_size_px=640)


CARRIED_SAMPLES = REPO / "tests" / "data" / "real"
SHARED_SAMPLES = SHARED / "real-samples"


def real_samples() -> Path:
    """The real Sentinel-1/-2 clips carried in the repository (Sen1Floods11 CC BY 4.0, BigEarthNet
    CDLA-Permissive-1.0; tests/data/real/README.md). Present in every clone: missing is a failure."""
    assert (CARRIED_SAMPLES / "manifest.json").is_file(), f"carried real samples missing at {CARRIED_SAMPLES}: restore tests/data/real from git"
    return CARRIED_SAMPLES


SEN12MSCR_SKIP = (
    "SEN12MS-CR clips are not carried in the repository (their licence is unconfirmed, tests/data/real/README.md): "
    "this test runs where ../shared/real-samples exists beside the clone, as in CI"
)


def sen12mscr_samples() -> Path:
    """The real-samples folder holding the SEN12MS-CR clips (../shared/real-samples), or a skip
    saying why: the only real clips a fresh clone does not have."""
    if not (SHARED_SAMPLES / "sen12ms-cr").is_dir():
        pytest.skip(SEN12MSCR_SKIP)
    return SHARED_SAMPLES
