"""Href signers: a provider whose assets need a token gets one just before the read.

``planetary-computer`` uses the ``planetary-computer`` package (``pip install
'sen12stac[opendata]'``): ``sign_url`` fetches a short-lived SAS token per storage container
from the Planetary Computer's token endpoint (``PC_SDK_SAS_URL`` overrides it) and caches it
until a minute before expiry. Collections PC marks ``msft:requires_account`` (``sentinel-1-rtc``)
need a subscription key, ``PC_SDK_SUBSCRIPTION_KEY``, which the package reads itself.
Hrefs outside Azure Blob Storage come back unchanged.
"""
from __future__ import annotations

from typing import Callable

from ...errors import ConfigError, SourceError
from ...extras import require

Signer = Callable[[str], str]


def _unsigned(href: str) -> str:
    return href


def make_signer(name: str) -> Signer:
    """The signer called ``name``; a missing package is a ConfigError before any work."""
    if name == "none":
        return _unsigned
    if name == "planetary-computer":
        require("opendata")  # planetary-computer, before any work
        return _sign_planetary_computer
    raise ConfigError(f"unknown href signer {name!r}", fix="use none or planetary-computer")


#: token requests: a few quick retries (the package's default, 10 with backoff, waits minutes)
TOKEN_RETRIES = 3
TOKEN_BACKOFF_S = 0.5


def _sign_planetary_computer(href: str) -> str:
    from urllib.parse import urlparse

    import planetary_computer

    parsed = urlparse(href)
    if not parsed.netloc.endswith(".blob.core.windows.net") or "sig=" in parsed.query:
        return planetary_computer.sign_url(href)  # not Azure, or already signed: returned as it is
    try:
        account, container = planetary_computer.utils.parse_blob_url(parsed)
        token = planetary_computer.sas.get_token(account, container, retry_total=TOKEN_RETRIES, retry_backoff_factor=TOKEN_BACKOFF_S)
        return token.sign(href).href
    except Exception as exc:  # requests errors, HTTP 4xx/5xx, a token response without a token
        host = href.split("/")[2] if "://" in href else href
        raise SourceError(
            f"signing an asset on {host} with a Planetary Computer SAS token failed ({type(exc).__name__}: {exc})",
            fix="check the network and https://planetarycomputer.microsoft.com/api/sas/v1/token; set PC_SDK_SUBSCRIPTION_KEY (sentinel-1-rtc needs one; it also lifts rate limits), then run the same command again",
        ) from exc
