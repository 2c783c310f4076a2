"""Shared fixtures. Tests reach nothing but loopback: sockets to other hosts are refused."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

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


def real_samples() -> Path:
    """The real Sentinel-1/-2 clips CI has beside the clone; a missing copy fails, never skips."""
    path = SHARED / "real-samples"
    assert path.is_dir(), f"real samples not found at {path}: the tests need ../shared/real-samples beside the repository"
    return path
