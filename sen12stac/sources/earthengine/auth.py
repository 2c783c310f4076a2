"""Authentication the Earth Engine way, checked before any work starts.

Credentials, in order: a service-account key file (``--ee-key-file``), else what
``ee.data.get_persistent_credentials`` finds -- the token of ``earthengine authenticate``
or Google application default credentials (``gcloud auth application-default login``,
``GOOGLE_APPLICATION_CREDENTIALS``, or the metadata server on Google Cloud). The project
(``--ee-project``) must be a Cloud project registered for Earth Engine; a service account's
own project is used when none is given.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import ee
import google.auth.exceptions

from ...errors import ConfigError, SourceError

REGISTER_FIX = (
    "register the project for Earth Engine (https://code.earthengine.google.com/register), enable the "
    "Earth Engine API in it, and give your account or service account the Earth Engine Resource Viewer role "
    "(roles/earthengine.viewer) or higher"
)
NO_CREDENTIALS_FIX = (
    "run `gcloud auth application-default login` (or `earthengine authenticate`), or pass --ee-key-file "
    "with the JSON key of a service account registered for Earth Engine"
)
_ACCESS_MARKERS = ("not registered", "has not been used in project", "permission", "permission_denied", "forbidden", "not signed up", "no project found", "is disabled")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_credentials(key_file: Path | None) -> tuple[Any, str | None]:
    """(credentials, project of the service account or None)."""
    if key_file is not None:
        from google.oauth2 import service_account

        path = Path(key_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"Earth Engine key file {path} does not exist", fix="pass --ee-key-file with the JSON key of a service account (IAM > Service accounts > Keys)")
        try:
            creds = service_account.Credentials.from_service_account_file(str(path), scopes=list(ee.oauth.SCOPES))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"Earth Engine key file {path} is not a service-account JSON key ({_one_line(exc)})",
                              fix="download a JSON key of the service account (IAM > Service accounts > Keys > Add key > JSON)") from None
        return creds, creds.project_id
    try:
        return ee.data.get_persistent_credentials(), None
    except ee.EEException:
        raise ConfigError("no Earth Engine credentials found (no service-account key, no application default credentials, no `earthengine authenticate` token)",
                          fix=NO_CREDENTIALS_FIX) from None


def access_error(exc: BaseException, project: str) -> ConfigError | SourceError:
    """An ``ee.Initialize`` or request failure as one actionable line."""
    msg = _one_line(exc)
    if any(m in msg.lower() for m in _ACCESS_MARKERS):
        return ConfigError(f"Earth Engine refused project {project!r}: {msg}", fix=REGISTER_FIX)
    return SourceError(f"Earth Engine request failed for project {project!r}: {msg}",
                       fix="if it names a network or service problem, check https://status.cloud.google.com and run the same command again (finished scenes are kept)")


def connect(project: str | None, key_file: Path | None = None, *, url: str | None = None) -> str:
    """Initialize earthengine-api for ``project``; return the project used. Raises ConfigError
    (no credentials, no project, no Earth Engine access) or SourceError (unreachable).
    ``url``: the Earth Engine REST endpoint (default: earthengine-api's, Google's service)."""
    creds, sa_project = load_credentials(key_file)
    project = project or sa_project or getattr(creds, "quota_project_id", None)
    if not project:
        raise ConfigError("no Google Cloud project given for Earth Engine", fix="pass --ee-project PROJECT (a Cloud project registered for Earth Engine)")
    try:
        ee.Reset()  # a fresh algorithm list: the request that proves the project has Earth Engine access
        ee.Initialize(creds, project=project, url=url)
    except ee.EEException as exc:
        raise access_error(exc, project) from None
    except google.auth.exceptions.GoogleAuthError as exc:  # a revoked key, a deleted account, a skewed clock
        raise ConfigError(f"Google refused the Earth Engine credentials: {_one_line(exc)}",
                          fix="check the key or run `gcloud auth application-default login` again; the machine's clock must be right") from None
    except OSError as exc:  # transport failures (DNS, refused, TLS) before any EE error exists
        raise access_error(exc, project) from None
    return project
