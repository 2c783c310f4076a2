"""The settings of one run: read once (the root callback), handed to the commands through the
typer context (``ctx.obj``). The CLI is the only part of sen12stac that reads its settings
from the environment.

- :class:`Settings`: where things live and how S3 is reached -- ``SEN12STAC_*`` variables (and
  ``XDG_CACHE_HOME``). The standard ``AWS_*`` variables, profiles and keys are boto3's to read,
  in every process that talks to S3 (:class:`~sen12stac.store.s3.S3Settings`): no credential
  passes through the CLI.
- :meth:`Settings.build_config`: the build's :class:`~sen12stac.config.BuildConfig`, from
  pydantic-settings' own sources in this order: the command line > ``SEN12STAC_*`` variables
  (``SEN12STAC_WORKERS=4``, ``SEN12STAC_COG__LEVEL=9``; lists and sections as JSON) > the
  ``--config`` JSON/TOML file > the defaults. Sections merge key by key across the layers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from ..config import BuildConfig, make_config
from ..errors import ConfigError


class Settings(BaseSettings):
    """Every setting a command takes from the environment (never a credential in argv)."""

    model_config = SettingsConfigDict(env_prefix="SEN12STAC_", extra="ignore", frozen=True)

    work_dir: Path = Field(Path(".sen12stac-cache"), description="cache folder: Earth Engine downloads and task ids, the private API database")
    progress_interval: float = Field(15.0, gt=0, description="seconds between progress lines when stderr is not a terminal")
    browser_cache: Optional[Path] = Field(None, description="where the STAC Browser build is kept (default: XDG_CACHE_HOME/sen12stac)")
    xdg_cache_home: Optional[Path] = Field(None, validation_alias=AliasChoices("XDG_CACHE_HOME"))
    # S3: the command line's --endpoint-url / --aws-profile win over these, and these over boto3's
    # own (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION, AWS_PROFILE, a profile's)
    s3_endpoint_url: Optional[str] = Field(None, description="S3 endpoint (MinIO, Ceph, R2, a local server)")
    s3_region: Optional[str] = Field(None, description="S3 region")
    aws_profile: Optional[str] = Field(None, description="AWS profile")

    @classmethod
    def load(cls) -> "Settings":
        """Read the environment once; a bad value is one :class:`ConfigError` naming the variable."""
        try:
            return cls()
        except ValidationError as exc:
            # the variable and the reason, never the value (it may be a secret)
            names = ", ".join(f"{_variable(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid environment variable {names}", fix="correct or unset it") from None

    def browser_cache_root(self) -> Path:
        """SEN12STAC_BROWSER_CACHE, else XDG_CACHE_HOME/sen12stac, else ~/.cache/sen12stac."""
        if self.browser_cache:
            return self.browser_cache
        return (self.xdg_cache_home or Path.home() / ".cache") / "sen12stac"

    def s3(self, endpoint_url: str | None = None, aws_profile: str | None = None) -> dict[str, Any]:
        """The S3 options of a command: its ``--endpoint-url`` and ``--aws-profile`` over the
        ``SEN12STAC_*`` variables, then the endpoint and region resolved as the store and the stream
        resolve them (boto3's variables and profiles). Credentials are not read here: boto3 finds
        them in every process that needs them; an explicit profile wins over keys in the environment."""
        from ..store.s3 import S3Settings

        s3 = S3Settings(endpoint_url=endpoint_url or self.s3_endpoint_url, profile=aws_profile or self.aws_profile, region=self.s3_region)
        resolved = s3.resolve()
        opts = {"endpoint_url": resolved.endpoint_url, "profile": s3.profile, "region": resolved.region}
        return {k: v for k, v in opts.items() if v is not None}

    def build_config(self, options: dict[str, Any], config_file: Path | None = None) -> BuildConfig:
        """The build's configuration: ``options`` (what the command line set; ``None`` values and
        empty sections are left out) over ``SEN12STAC_*`` over ``config_file`` over the defaults.
        The Earth Engine cache defaults to ``work_dir/earthengine``."""
        defaults = {"earthengine": {"cache_dir": self.work_dir / "earthengine"}}
        sources = _build_sources(_config_file_source(config_file), defaults)
        try:
            merged = sources(**_given(options))
        except ValidationError as exc:
            raise ConfigError("invalid configuration: " + "; ".join(_problem(e) for e in exc.errors()), fix="correct the value(s) named above") from None
        except SettingsError as exc:  # a SEN12STAC_* list or section that is not JSON
            raise ConfigError(f"invalid configuration: {exc}", fix="write SEN12STAC_* lists and sections as JSON, e.g. SEN12STAC_SEASONS='[\"spring\"]'") from None
        return make_config(**merged.model_dump())  # a plain BuildConfig: the library (and Dask's workers) never see this module


ENDPOINT_HELP = "S3 endpoint URL (MinIO, Ceph, R2, a local server)"
ENDPOINT_DEFAULT = "AWS, or SEN12STAC_S3_ENDPOINT_URL / AWS_ENDPOINT_URL_S3"
PROFILE_HELP = "AWS profile for s3:// URLs (keys stay in the profile or the AWS_* variables, never on the command line)"
PROFILE_DEFAULT = "AWS_PROFILE, else boto3's credential chain"


def endpoint_option(**kw: Any) -> Any:
    """``--endpoint-url``: every command that takes an s3:// URL has it, beside ``--aws-profile``."""
    return typer.Option(None, "--endpoint-url", help=ENDPOINT_HELP, show_default=ENDPOINT_DEFAULT, **kw)


def profile_option(**kw: Any) -> Any:
    """``--aws-profile``: the AWS profile (``--compression`` is the COG setting, not a profile)."""
    return typer.Option(None, "--aws-profile", help=PROFILE_HELP, show_default=PROFILE_DEFAULT, **kw)


def open_store(settings: Settings, url: str, endpoint_url: str | None = None, aws_profile: str | None = None) -> Any:
    """A folder or an S3 prefix, with this run's S3 settings."""
    from ..store import open_store as open_url

    return open_url(url, **(settings.s3(endpoint_url, aws_profile) if url.startswith("s3://") else {}))


def settings_of(ctx: Any) -> Settings:
    """This run's settings, read once by the root callback (``ctx``: a command's typer context)."""
    settings = ctx.find_object(Settings)
    if settings is None:  # a command called without the root callback: nothing read yet
        raise RuntimeError("sen12stac's root callback did not run; call the app, not a command function")
    return settings


class _BuildSources(BaseSettings, BuildConfig):
    """BuildConfig's fields read through pydantic-settings (the layers: :meth:`Settings.build_config`)."""

    model_config = SettingsConfigDict(env_prefix="SEN12STAC_", env_nested_delimiter="__", extra="forbid", frozen=True)


def _build_sources(file_source, defaults: dict[str, Any]) -> type[_BuildSources]:
    """:class:`_BuildSources` reading this run's ``--config`` file and computed defaults."""

    class BuildSources(_BuildSources):
        @classmethod
        def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                       env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                       file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
            # first wins: the command line (init arguments), SEN12STAC_*, the --config file, computed defaults
            layers = [init_settings, env_settings]
            if file_source is not None:
                layers.append(file_source(settings_cls))
            layers.append(InitSettingsSource(settings_cls, defaults))
            return tuple(layers)

    return BuildSources


def _config_file_source(path: Path | None):
    """A JSON or TOML source for ``path`` (by its suffix), checked readable and parsed now."""
    if path is None:
        return None
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}", fix="check the --config path") from None
    toml = path.suffix.lower() == ".toml"

    def source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource:
        try:
            return TomlConfigSettingsSource(settings_cls, toml_file=path) if toml else JsonConfigSettingsSource(settings_cls, json_file=path)
        except (ValueError, TypeError, AttributeError) as exc:  # JSONDecodeError, TOMLDecodeError, a file that is not an object
            raise ConfigError(f"configuration file {path} does not parse: {exc}", fix="write it as JSON or TOML with BuildConfig's fields") from None

    return source


def _variable(loc: str) -> str:
    """The environment variable of a field (its alias when it has one)."""
    return loc if loc.isupper() else f"SEN12STAC_{loc.upper()}"


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The options the command line set: ``None`` left out, sections only when they hold a value."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            value = _given(value)
            if not value:
                continue
        if value is not None:
            out[key] = value
    return out


def _problem(e: Any) -> str:
    loc = ".".join(str(p) for p in e["loc"]) or "config"
    return f"{loc}: {e['msg']} (got {e.get('input')!r})"
